"""The studio under `/studio`: marketers write a script, watch its media arrive, review takes,
compile and download the video.

`routes` answers, `session` signs users in and guards forms, `forms` reads the posts, `views`
gathers what pages show, `pages` renders them from `web/templates/studio/`. The same services
as the CLI and the API do the work.
"""

from vsl_pipelines.web.studio.routes import router

__all__ = ["router"]
