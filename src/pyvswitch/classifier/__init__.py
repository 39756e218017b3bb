"""The tuple-space-search classifier (Open vSwitch's lib/classifier) and its linear oracle.

What this package owns
----------------------
The rule store of every OpenFlow table and the lookup the translator runs per upcall.
``Classifier`` (classifier.py) and ``LinearClassifier`` (reference.py, the test oracle)
share one API; a rule is any object with ``match`` (``fields.Match``) and ``priority``::

    insert(rule, version) -> None          # visible from ``version`` on
    remove(rule, version) -> None          # invisible from ``version`` on
    replace(old, new, version) -> None     # both at once (MODIFY)
    collect(min_version) -> int            # free rules no version >= min_version sees
    lookup(flow, version, wc=None) -> rule | None   # ORs consulted bits into ``wc``
    find_exactly(match, priority, version) -> rule | None
    find_matches(match, version, strict=False, priority=None) -> Iterator[rule]
    len(cls), iter(cls)                    # rules visible in the newest version
    rules_in(version) -> Iterator[rule]

Modules: classifier.py (the facade and its design essay), subtable.py (one mask's rules,
stages), codegen.py (generated lookup code), trie.py (prefix tries), reference.py.

Must not import: anything in pyvswitch except ``packet.fields``.
"""

from .classifier import DEFAULT_PREFIX_SLOTS, Classifier
from .reference import LinearClassifier

__all__ = ["Classifier", "LinearClassifier", "DEFAULT_PREFIX_SLOTS"]
