"""The integrators' review page under `/review` (an API key, HTTP Basic allowed): the takes
waiting for a decision, each clip playable, and plain HTML forms to approve or reject it (a
rejection may carry a new prompt, seed and note). People review in the studio's queue
(`/studio/review`, `web/studio/review.py`), which the page links to.

`routes` answers, `forms` reads the posts, `views` gathers what the page shows, `pages` renders
it from `web/templates/`. Same access rule and decisions as `/api`.
"""

from vsl_pipelines.web.review.routes import router

__all__ = ["router"]
