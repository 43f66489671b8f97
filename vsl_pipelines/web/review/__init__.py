"""The reviewers' page under `/review`: the takes waiting for a decision, each clip playable, and
plain HTML forms to approve or reject it (a rejection may carry a new prompt, seed and note).

`routes` answers, `forms` reads the posts, `views` gathers what the page shows, `pages` renders
it from `web/templates/`. Same access rule and decisions as `/api`.
"""

from vsl_pipelines.web.review.routes import router

__all__ = ["router"]
