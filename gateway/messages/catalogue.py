"""The message catalogue: one YAML file per locale, checked whole at load, chosen by Accept-Language.

A file is ``{locale: de, messages: {<family>: {title: ..., detail: ...}}}``.
The default locale's file (English unless configured) must hold every family;
every other locale must hold every entry the default holds (a missing one is an
error, never a silent English sentence inside a German page) and nothing else.
Placeholders are ``{decision_id}`` and ``{retry_after}``; any other name, a
format spec or an unbalanced brace is an error naming file, key and fix.
"""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass
from pathlib import Path

import yaml
from babel.core import negotiate_locale

from gateway.errors import ConfigError
from gateway.messages.families import ENTRIES, THIRD_PARTY_APP, family_slug

FIELDS = ("title", "detail")
PLACEHOLDERS = ("decision_id", "retry_after")
BUILTIN_FOLDER = Path(__file__).resolve().parent / "locales"
_MAX_FILE_BYTES = 256 * 1024
_MAX_TEXT = 1000
_MAX_HEADER = 256  # Accept-Language read at most this far
_MAX_TAGS = 8
_CACHE_MAX = 512  # distinct Accept-Language values remembered (client input: bounded)


@dataclass(frozen=True, slots=True)
class Problem:
    """One rendered problem: its type URI, title and detail (placeholders filled)."""

    type: str
    title: str
    detail: str
    locale: str


class Catalogue:
    """Messages per locale and family; immutable once loaded."""

    def __init__(self, texts: dict[str, dict[str, dict[str, str]]], default: str, type_base: str) -> None:
        self.texts = texts
        self.default = default
        self.type_base = type_base
        self.locales = tuple(sorted(texts))
        self._lower = {loc.lower(): loc for loc in self.locales}
        self._chosen: dict[str, str] = {}

    @classmethod
    def load(cls, folder: str | Path = BUILTIN_FOLDER, default: str = "en",
             type_base: str = "urn:gateway:problem:") -> Catalogue:
        """Read every ``*.yaml`` in ``folder``; ConfigError names the file, the key and the fix."""
        folder = Path(folder)
        files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if not files:
            raise ConfigError(f"messages.catalogue: {folder}: no <locale>.yaml files; point it at a folder holding "
                              "en.yaml (copy the shipped one from gateway/messages/locales)")
        texts: dict[str, dict[str, dict[str, str]]] = {}
        places: dict[str, Path] = {}
        for path in files:
            locale, entries = _read(path)
            if locale in texts:
                raise ConfigError(f"{path}: locale {locale!r} is also {places[locale]}; keep one file per locale")
            texts[locale], places[locale] = entries, path
        if default not in texts:
            raise ConfigError(f"messages.default_locale: {default!r} has no file in {folder}; "
                              f"add {default}.yaml or pick one of {', '.join(sorted(texts))}")
        base = texts[default]
        for family in ENTRIES:
            for name in FIELDS:
                if name not in base.get(family, {}):
                    raise ConfigError(f"{places[default]}: messages.{family}.{name}: missing; the default locale "
                                      "must hold every entry (copy it from the shipped en.yaml)")
        for locale, entries in texts.items():
            for family in ENTRIES:
                for name in FIELDS:
                    if name not in entries.get(family, {}):
                        raise ConfigError(f"{places[locale]}: messages.{family}.{name}: missing; translate it from "
                                          f"{places[default].name} (every locale holds every entry)")
        return cls(texts, default, type_base)

    def negotiate(self, accept_language: str | None) -> str:
        """The best locale for an Accept-Language header (RFC 9110 section 12.5.4), else the default."""
        if not accept_language:
            return self.default
        chosen = self._chosen.get(accept_language)
        if chosen is None:
            preferred = _preferences(accept_language[:_MAX_HEADER])
            found = negotiate_locale(preferred, list(self.locales), sep="-") if preferred else None
            chosen = self._lower.get(found.lower(), self.default) if found else self.default
            if len(self._chosen) >= _CACHE_MAX:
                self._chosen.clear()
            self._chosen[accept_language] = chosen
        return chosen

    def problem(self, family: str, accept_language: str | None, decision_id: str,
                retry_after: int | None = None) -> Problem:
        locale = self.negotiate(accept_language)
        entry = self.texts[locale].get(family) or self.texts[locale][THIRD_PARTY_APP]
        # format() is safe here: load allowed only these two names, without specs
        detail = entry["detail"].format(decision_id=decision_id, retry_after=retry_after if retry_after else 60)
        return Problem(self.type_base + family_slug(family), entry["title"], detail, locale)


def _preferences(header: str) -> list[str]:
    """Language tags by descending q (ties keep their order); q=0 and '*' dropped."""
    ranked = []
    for i, part in enumerate(header.split(",")[:_MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > 0:
            ranked.append((-q, i, tag))
    ranked.sort()
    return [tag for _, _, tag in ranked]


def _read(path: Path) -> tuple[str, dict[str, dict[str, str]]]:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {_MAX_FILE_BYTES} bytes; a catalogue is a few short sentences")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict) or set(data) - {"locale", "messages"}:
        raise ConfigError(f"{path}: expected a mapping with 'locale:' and 'messages:' only")
    locale = data.get("locale")
    if not isinstance(locale, str) or not locale.strip():
        raise ConfigError(f"{path}: locale: missing; name the locale, e.g. 'locale: {path.stem}'")
    if locale != path.stem:
        raise ConfigError(f"{path}: locale: {locale!r} differs from the file name; name the file {locale}.yaml")
    messages = data.get("messages")
    if not isinstance(messages, dict):
        raise ConfigError(f"{path}: messages: expected a mapping of reason families ({', '.join(ENTRIES)})")
    entries: dict[str, dict[str, str]] = {}
    for family, fields in messages.items():
        if family not in ENTRIES:
            near = difflib.get_close_matches(str(family), ENTRIES, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"use one of {', '.join(ENTRIES)}"
            raise ConfigError(f"{path}: messages.{family}: not a reason family; {hint}")
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: messages.{family}: expected a mapping with title: and detail:")
        entry = {}
        for name, text in fields.items():
            key = f"messages.{family}.{name}"
            if name not in FIELDS:
                raise ConfigError(f"{path}: {key}: unknown; an entry has {' and '.join(FIELDS)}")
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{path}: {key}: expected text; quote it")
            if len(text) > _MAX_TEXT:
                raise ConfigError(f"{path}: {key}: longer than {_MAX_TEXT} characters; keep it short")
            _check_placeholders(path, key, text)
            entry[name] = " ".join(text.split())
        entries[family] = entry
    return locale, entries


def _check_placeholders(path: Path, key: str, text: str) -> None:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ConfigError(f"{path}: {key}: {exc}; write placeholders as {{decision_id}} and a literal brace as "
                          "{{ or }}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            near = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
            hint = f"did you mean {{{near[0]}}}?" if near else f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            raise ConfigError(f"{path}: {key}: unknown placeholder {{{name}}}; {hint}")
        if spec or conversion:
            raise ConfigError(f"{path}: {key}: placeholder {{{name}}} takes no format; write {{{name}}}")


_DEFAULT: Catalogue | None = None


def default_catalogue() -> Catalogue:
    """The shipped catalogue (English, German, Spanish), loaded once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Catalogue.load()
    return _DEFAULT


_LOADED: dict[tuple[str, str, str], Catalogue] = {}


def load_catalogue(settings) -> Catalogue:
    """The catalogue a config names, read and checked once per (folder, default, type base)."""
    m = settings.messages
    folder = settings.resolve(m.catalogue)
    key = (folder, m.default_locale, m.type_base)
    found = _LOADED.get(key)
    if found is None:
        try:
            found = Catalogue.load(folder, m.default_locale, m.type_base)
        except ConfigError as exc:
            raise ConfigError(f"{settings.source or 'config'}: messages: {exc}") from None
        if len(_LOADED) > 32:
            _LOADED.clear()
        _LOADED[key] = found
    return found
