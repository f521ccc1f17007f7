"""Looking inside a run's search trees: in the terminal, in a browser, as files.

- `payload`: one tree (or a run's rounds and problems) as the JSON the views share.
- `text`: `lab tree list` and `lab tree show` (rich tables and trees).
- `server`: `lab tree serve`, a local web viewer (standard library `http.server`, one static
  page in `static/viewer.html`, JSON endpoints that re-read the run directory on each request).
- `files`: one tree as a self-contained HTML file (the viewer page with the tree inside) or as
  Graphviz DOT.
The `lab tree` subcommands are `selfplay/commands/tree.py`.

Step texts are model output: every view treats them as hostile (escaped, control characters
shown, never parsed as markup). Nothing here imports torch.
"""
