"""The playground: a local web page where a learner draws a digit and watches a trained net read it, step by step.

app (the Starlette app and its JSON API), answer (the numbers: rnnlab's own prediction and trace), request (what a
request may ask), guard (which requests are answered at all), serve (uvicorn on a socket of its own); static/ the
page, shipped in the package, no CDN.
Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.playground import answer, app, guard, request, serve  # noqa: F401

__getattr__, __dir__ = submodules(__name__, ("answer", "app", "guard", "request", "serve"))
