"""The workspace's pages and its sign-in.

Pages are HTML shells rendered with the caller's organisation, role and CSRF token; what they
show comes from the ``/v1`` JSON API, called by the page's scripts with the session cookie, so
recommendations in the browser take the very path the API and batch files take.  A page asked
for without a live session sends the browser to 登录.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.db import ROLE_RANK, Principal
from api.deps import ConfigDep, DbDep, ModelDep, get_principal
from api.web.labels import ROLE_ZH, map_reference, page_labels, park_rows
from api.web.session import COOKIE

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
router = APIRouter(include_in_schema=False)
NAV = (
    ("find", "/find", "企业找园区"),
    ("parks", "/parks", "园区"),
    ("batch", "/batch", "批量"),
    ("followups", "/followups", "跟进"),
)
# Pages only an admin uses; everyone else is not shown the link.
ADMIN_NAV = (("corrections", "/corrections", "更正审核"),)


@dataclass(frozen=True)
class WebCaller:
    principal: Principal
    csrf: str


async def page_caller(request: Request, db: DbDep) -> WebCaller | None:
    token = request.cookies.get(COOKIE)
    found = await run_in_threadpool(db.web_session, token) if token else None
    return WebCaller(*found) if found else None


PageCaller = Annotated[WebCaller | None, Depends(page_caller)]
SessionCaller = Annotated[Principal, Depends(get_principal)]


def page(request: Request, caller: WebCaller | None, template: str, title: str, **extra: Any) -> Response:
    """Render ``template`` for a signed-in caller; anyone else is sent to 登录."""
    if caller is None:
        return RedirectResponse("/login", status_code=303)
    who = caller.principal
    is_admin = who.role == "admin"
    context = {
        "title": title,
        "nav": NAV + ADMIN_NAV if is_admin else NAV,
        "page": template.removesuffix(".html"),
        "org": who.org,
        "role": who.role,
        "role_zh": ROLE_ZH.get(who.role, who.role),
        "can_write": ROLE_RANK.get(who.role, -1) >= ROLE_RANK["officer"],
        "is_admin": is_admin,
        "key_id": who.key_id,
        "csrf": caller.csrf,
        **extra,
    }
    return templates.TemplateResponse(request, template, context, headers={"Cache-Control": "no-store"})


@router.get("/")
async def home(caller: PageCaller) -> Response:
    return RedirectResponse("/find" if caller else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, caller: PageCaller) -> Response:
    if caller is not None:
        return RedirectResponse("/find", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"title": "登录", "page": "login"})


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(min_length=1, max_length=200)


def same_origin(request: Request) -> None:
    """Sign-in takes JSON only, from a page of this server: a form on another site can send
    neither (it can only post form encodings, and its Origin differs)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(415, detail={"code": "unsupported_media_type", "message": "登录请求须为 JSON"})
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, detail={"code": "forbidden", "message": "跨站登录请求已拒绝"})


@router.post("/web/login", dependencies=[Depends(same_origin)])
async def login(request: Request, body: LoginIn, db: DbDep, config: ConfigDep) -> Response:
    opened = await run_in_threadpool(db.open_web_session, body.key, timedelta(hours=config.session_hours))
    if opened is None:
        raise HTTPException(
            401, detail={"code": "unauthorized", "message": "API 密钥无效或已停用", "field": "key"}
        )
    who, token, _csrf = opened
    reply = JSONResponse({"org": who.org, "role": who.role, "next": "/find"})
    reply.set_cookie(
        COOKIE,
        token,
        max_age=int(config.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return reply


@router.post("/web/logout")
async def logout(request: Request, db: DbDep, _who: SessionCaller) -> Response:
    """Ends the session (the dependency has checked its CSRF token) and clears the cookie."""
    await run_in_threadpool(db.end_web_session, request.cookies.get(COOKIE, ""))
    reply = JSONResponse({"next": "/login"})
    reply.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return reply


@router.get("/web/reference.json")
async def reference() -> Any:
    """Labels and the map's county points: public reference data, the same for every caller."""
    return {"labels": page_labels(), "map": map_reference()}


@router.get("/parks/{park_id}", response_class=HTMLResponse)
async def park(request: Request, park_id: str, caller: PageCaller, model: ModelDep) -> Response:
    found = next((p for p in model.parks if p.park_id == park_id), None)
    if found is None and caller is not None:
        raise HTTPException(404, detail={"code": "not_found", "message": f"没有编号为 {park_id} 的园区"})
    return page(
        request,
        caller,
        "park.html",
        found.name if found else "园区",
        park=found,
        rows=park_rows(found) if found else [],
    )


def _simple_page(template: str, title: str) -> Any:
    async def show(request: Request, caller: PageCaller) -> Response:
        return page(request, caller, template, title)

    return show


# Pages whose content the scripts fetch: (path, template, title).
SIMPLE_PAGES = (
    ("/find", "find.html", "企业找园区"),
    ("/parks", "parks.html", "园区"),
    ("/batch", "batch.html", "批量"),
    ("/followups", "followups.html", "跟进"),
    # admins only: anyone else sees a notice (the routes it calls refuse them anyway)
    ("/corrections", "corrections.html", "更正审核"),
)
for _path, _template, _title in SIMPLE_PAGES:
    router.add_api_route(_path, _simple_page(_template, _title), methods=["GET"], response_class=HTMLResponse)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> Response:
    """Swagger UI from the vendored files under ``static/vendor/swagger-ui`` (no CDN)."""
    return templates.TemplateResponse(request, "docs.html", {"title": "接口文档"})
