"""Every-candidate-entry statistics: over every day an entry could have happened, what a
structure returned, by DTE bucket x delta (or moneyness) bucket x exit rule (docs/entries.md).

Public modules: `spec` (the entries file and its checks; imports no numba), `candidates_nb`
(the kernels: candidates and their outcomes), `engine` (the seam to them: `find_candidates`),
`stats` (buckets and the tables).
"""

from gridbt.entries.spec import EntriesError, EntriesSpec, check_entries, load_entries

__all__ = ["EntriesError", "EntriesSpec", "candidates_nb", "check_entries", "engine",
           "load_entries", "spec", "stats"]
