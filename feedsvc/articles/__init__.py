"""Article files: which paths are articles (discover), reading one safely (read), and
splitting its text into a Source (parse, with its front matter and field checks)."""
