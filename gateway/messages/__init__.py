"""What a stopped client reads: problem types per reason family and the operator's message catalogue.

``Catalogue.load(folder)`` reads one ``<locale>.yaml`` per locale and checks it
at load (a missing entry or an unknown placeholder is a ConfigError naming the
file, the key and the fix); ``Catalogue.problem`` picks the locale for an
``Accept-Language`` header (Babel's negotiation) and fills the placeholders.
"""

from gateway.messages.catalogue import PLACEHOLDERS, Catalogue, Problem, default_catalogue
from gateway.messages.families import DEFAULT_REASON, FAMILIES, REVOKED, family_slug

__all__ = ["DEFAULT_REASON", "FAMILIES", "PLACEHOLDERS", "REVOKED", "Catalogue", "Problem", "default_catalogue", "family_slug"]
