"""The tuple-space-search classifier (Open vSwitch's lib/classifier) and its linear oracle.

Public API: ``Classifier`` (classifier.py) and ``LinearClassifier`` (reference.py), with the
same methods: insert/remove/replace/collect, lookup(flow, version, wc), find_exactly,
find_matches, __len__, __iter__, rules_in.

Must not import: anything in pyvswitch except ``packet.fields``.
"""

from .classifier import DEFAULT_PREFIX_SLOTS, Classifier
from .reference import LinearClassifier

__all__ = ["Classifier", "LinearClassifier", "DEFAULT_PREFIX_SLOTS"]
