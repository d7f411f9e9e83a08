"""The officers' workspace in the browser: Chinese pages over the same ``/v1`` JSON API.

Kept free of imports so that :mod:`api.deps` and :mod:`api.gate` can use
:mod:`api.web.session` without pulling in the page routes (which import them back).
"""
