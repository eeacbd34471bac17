"""Find pack files, read them all, and merge them, collecting every error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.policy.pack import MAX_THRESHOLD, Pack, Rule, read_pack
from gateway.settings import resolve_path

PACK_SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class Merged:
    """Every pack's contribution, merged; ``errors`` empty when it may be used."""

    files: list[str] = field(default_factory=list)
    packs: list[Pack] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    allowlists: dict[str, list[tuple[object, str]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Paths as given; ``builtin:rules`` (or ``builtin:rules/travel.yaml``) is the packs shipped in the package."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return [Path(resolve_path(str(p))) for p in paths]


def discover(paths: str | Path | Iterable[str | Path], errors: list[str]) -> list[Path]:
    """The pack files named by ``paths``: files as given, folders' *.yaml/*.yml sorted by name."""
    found: list[Path] = []
    seen: set[Path] = set()
    for path in as_paths(paths):
        try:
            files = _files(path, errors)
        except OSError as exc:  # a folder on the way that may not be read or entered
            errors.append(f"{path}:1:1: cannot read it: {exc.strerror or exc}")
            continue
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found


def _files(path: Path, errors: list[str]) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in PACK_SUFFIXES and p.is_file())
        if not files:
            errors.append(f"{path}:1:1: no rule packs (*.yaml) in this folder")
        return files
    if path.is_file():
        return [path]
    errors.append(f"{path}:1:1: no such file or folder")
    return []


def load_and_merge(paths: str | Path | Iterable[str | Path]) -> Merged:
    merged = Merged()
    errors = merged.errors
    files = discover(paths, errors)
    merged.files = [str(f) for f in files]
    for f in files:
        pack = read_pack(f, errors)
        if pack is not None:
            merged.packs.append(pack)
    _merge(merged)
    return merged


def _merge(merged: Merged) -> None:
    errors = merged.errors
    first_id: dict[str, str] = {}
    threshold_place: dict[str, str] = {}
    for pack in merged.packs:
        for key, (value, place) in pack.thresholds.items():
            if key in merged.thresholds and merged.thresholds[key] != value:
                errors.append(f"{place}: thresholds.{key} is {value:g} here but {merged.thresholds[key]:g} at "
                              f"{threshold_place[key]}; set each threshold in one pack only")
                continue
            merged.thresholds[key] = value
            threshold_place[key] = place
        for key, entries in pack.allowlists.items():
            merged.allowlists.setdefault(key, []).extend(entries)
        for rule in pack.rules:
            if rule.id in first_id:
                errors.append(f"{rule.place}: duplicate rule id '{rule.id}' (first defined at {first_id[rule.id]}); ids must be unique across packs")
                continue
            first_id[rule.id] = rule.place
            merged.rules.append(rule)
    challenge, block = merged.thresholds.get("challenge"), merged.thresholds.get("block")
    if challenge is not None and block is not None and not 0 < challenge < block <= MAX_THRESHOLD:
        errors.append(f"{threshold_place['challenge']}: thresholds must satisfy 0 < challenge < block <= "
                      f"{MAX_THRESHOLD:g}; here challenge is {challenge:g} and block is {block:g}")
