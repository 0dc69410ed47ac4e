"""`medforget run`: the whole benchmark as resumable stages (design §10)."""
