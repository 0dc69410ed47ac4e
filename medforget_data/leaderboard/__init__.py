"""The leaderboard: results JSONs → tables, plots and page (`table`), and the Space's logic (`space`)."""
