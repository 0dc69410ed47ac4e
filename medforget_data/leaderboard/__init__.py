"""The leaderboard: rows and ranking (`table`), Markdown and page (`render`), plots, the Space."""
