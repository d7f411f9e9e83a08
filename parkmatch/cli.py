"""The ``parkmatch`` command, and the one module that imports every layer.

Settings are read here, once, and turned into the typed values each stage's ``cli_*`` function
takes.  Each subcommand imports its implementation lazily so ``parkmatch parks`` does not pay for
LightGBM or Dask.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from parkmatch.config import Settings


class CliError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def _cmd_parks(args: argparse.Namespace, settings: Settings) -> int:
    from features.reference import filter_parks, load_parks, parks_json, provenance_table

    df = load_parks(args.catalogue or settings.catalogue_path)
    df = filter_parks(
        df,
        province=args.province,
        city=args.city,
        county=args.county,
        industry=args.industry,
        function=args.function,
        platform=args.platform,
    )
    if args.provenance:
        table = provenance_table(df)
        if args.format == "json":
            sys.stdout.write(table.to_json(orient="records", force_ascii=False, indent=2) + "\n")
        else:
            sys.stdout.write(provenance_markdown(table) + "\n")
        return 0
    if args.format == "json":
        sys.stdout.write(parks_json(df) + "\n")
    else:
        out = df.copy()
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, list)).any():
                out[col] = out[col].map(lambda v: ";".join(v) if isinstance(v, list) else v)
        out.to_csv(sys.stdout, index=False)
    return 0


def provenance_markdown(table: object) -> str:
    """The ``--provenance`` table as Markdown: count and share per level, per field."""
    import pandas as pd

    from features.schemas import PROVENANCE_LEVELS, PROVIDED

    assert isinstance(table, pd.DataFrame)

    # a provided column appears once an organisation's approved values are in the catalogue
    levels = tuple(lv for lv in PROVENANCE_LEVELS if lv != PROVIDED or table[lv].sum() > 0)
    lines = ["| field | " + " | ".join(levels) + " | n |", "|---" * (len(levels) + 2) + "|"]
    for r in table.to_dict("records"):
        n = int(r["n"]) or 1
        cells = [f"{int(r[lv])} ({100 * int(r[lv]) / n:.0f}%)" for lv in levels]
        lines.append(f"| {r['field']} | " + " | ".join(cells) + f" | {int(r['n'])} |")
    return "\n".join(lines)


def _cmd_industries(args: argparse.Namespace, settings: Settings) -> int:
    from features.reference import load_industries
    from features.registry import search_codes

    df = load_industries()
    if args.search:
        via = dict(search_codes(args.search))  # modern terms (冷链, 数据中心 …) through the synonym table
        hit = df["name"].str.contains(args.search, regex=False) | df["code"].str.startswith(args.search)
        df = df[hit | df["code"].isin(via)].copy()
        df["matched_term"] = df["code"].map(via).fillna("")
    if args.level:
        df = df[df["level"] == args.level]
    if args.format == "json":
        sys.stdout.write(df.to_json(orient="records", force_ascii=False, indent=2) + "\n")
    else:
        df.to_csv(sys.stdout, index=False)
    return 0


def _cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    from training.synth import cli_synth

    return cli_synth(n_firms=args.firms, seed=args.seed, out=Path(args.out), overwrite=args.overwrite)


def _cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from training.train import cli_train

    world = Path(args.data) if args.data else None
    cfg = settings.train_config(world, Path(args.out) if args.out else None)
    if args.relocations:
        path = Path(args.relocations)
        if not path.exists():
            raise CliError(f"relocations file not found: {path}")
        cfg = dataclasses.replace(cfg, relocations=path)
    return cli_train(cfg)


def _cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from parkmatch.retrain import gate_config, run_retrain, summary

    relocations = Path(args.relocations) if args.relocations else None
    if relocations is not None and not relocations.exists():
        raise CliError(f"relocations file not found: {relocations}")
    verdict = run_retrain(
        settings,
        relocations=relocations,
        cfg=gate_config(args),
        dry_run=args.dry_run,
        report=Path(args.report) if args.report else None,
    )
    print(summary(verdict))
    return 0


def _cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.bundle import verify_in_child
    from matcher.cli import cli_recommend

    model_dir = Path(args.model) if args.model else settings.resolved_model_dir()
    # A malformed ranker.txt with forged checksums aborts LightGBM; test-load it in a child so
    # this command exits 2 with the reason (a BundleError) instead of dying with 134.
    verify_in_child(model_dir)
    if args.why or args.compare:
        from matcher.cli import cli_why

        ids = [i.strip() for i in args.compare.split(",") if i.strip()] if args.compare else None
        return cli_why(Path(args.firm), model_dir, args.why or "", ids)
    return cli_recommend(
        firm_path=Path(args.firm),
        model_dir=model_dir,
        top=args.top,
        fmt=args.format,
        explain_excluded=args.explain_excluded,
    )


def _cmd_brief(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.bundle import verify_in_child
    from matcher.cli import cli_brief

    model_dir = Path(args.model) if args.model else settings.resolved_model_dir()
    verify_in_child(model_dir)
    return cli_brief(
        kind=args.kind,
        target=args.target,
        out=Path(args.output),
        model_dir=model_dir,
        leads=Path(args.leads) if args.leads else None,
        overwrite=args.overwrite,
        firms=Path(args.firms) if args.firms else None,
    )


def _cmd_leads(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.cli import cli_leads

    return cli_leads(
        park_id=args.park,
        model_dir=Path(args.model) if args.model else settings.resolved_model_dir(),
        top=args.top,
        out=Path(args.output) if args.output else None,
        firms_path=Path(args.firms) if args.firms else None,
        index_dir=Path(args.index) if args.index else None,
        headers=args.headers,
    )


def _cmd_index_firms(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.cli import cli_index_firms

    return cli_index_firms(
        Path(args.firms),
        Path(args.out),
        Path(args.model) if args.model else settings.resolved_model_dir(),
        args.index_type or settings.firm_index_type,
    )


def _cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from training.evaluate import cli_evaluate, cli_real_cv

    model_dir = Path(args.model) if args.model else settings.resolved_model_dir()
    if args.real_only:
        if args.report:
            raise ValueError("--report needs the full evaluation; leave out --real-only")
        return cli_real_cv(model_dir, args.seeds, args.json, args.quick)
    if args.seeds != 1:
        raise ValueError("--seeds applies to the real-case CV alone: add --real-only")
    return cli_evaluate(
        model_dir=model_dir,
        world_dir=settings.resolved_world_dir(),
        as_json=args.json,
        report=Path(args.report) if args.report else None,
        quick=args.quick,
    )


def ensure_model(settings: Settings) -> None:
    """Build the default model from the embedded data on first run (several minutes)."""
    from matcher.bundle import MANIFEST

    model_dir = settings.resolved_model_dir()
    if (model_dir / MANIFEST).exists():
        return
    from training.train import train_bundle

    print(
        f"[parkmatch] no model bundle at {model_dir}: building the default model "
        f"({settings.world_firms:,} simulated firms, seed {settings.world_seed}) into it; this runs once",
        file=sys.stderr,
        flush=True,
    )
    train_bundle(settings.train_config())


def export_settings(settings: Settings) -> None:
    """Worker processes build their app from the environment: hand them the resolved values."""
    os.environ["PARKMATCH_HOME"] = str(settings.home)
    os.environ["PARKMATCH_MODEL_DIR"] = str(settings.resolved_model_dir())
    os.environ["PARKMATCH_DATABASE_URL"] = settings.resolved_database_url()
    os.environ["PARKMATCH_MAX_BATCH"] = str(settings.max_batch)
    os.environ["PARKMATCH_MAX_BODY_BYTES"] = str(settings.max_body_bytes)
    for name in (
        "rate_limit_viewer",
        "rate_limit_officer",
        "rate_limit_admin",
        "rate_limit_window_seconds",
        "batch_threads",
        "batch_queue",
        "audit",
        "audit_retention_days",
    ):
        os.environ[f"PARKMATCH_{name.upper()}"] = str(getattr(settings, name))
    if settings.catalogue_path is not None:
        os.environ["PARKMATCH_CATALOGUE_PATH"] = str(settings.catalogue_path)
    # One request is a small, single-firm computation: extra OpenMP threads per worker only
    # contend for the cores the other workers use.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.serve import cli_serve, ensure_admin_key

    if args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    ensure_model(settings)
    ensure_admin_key(
        settings.resolved_database_url(), settings.bootstrap_admin_org, settings.home / "bootstrap-admin-key"
    )
    export_settings(settings)
    return cli_serve(args.host or settings.host, args.port or settings.port, workers=args.workers)


def _cmd_match(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.batch import cli_match

    return cli_match(
        inp=Path(args.input),
        out=Path(args.output),
        model_dir=Path(args.model) if args.model else settings.resolved_model_dir(),
        top=args.top,
        engine=args.engine,
        scheduler=args.scheduler,
        workers=args.workers,
        allocate=args.allocate,
        resume=args.resume,
        chunk_rows=settings.chunk_rows,
        headers=args.headers,
    )


def _cmd_template(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.batch.writers import write_template

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise CliError(f"{out} exists; add --overwrite to replace it")
    write_template(out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from benchmarks.suite import BenchConfig, cli_bench

    config = BenchConfig(home=settings.home, train=settings.train_config(), chunk_rows=settings.chunk_rows)
    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    return cli_bench(config, quick=args.quick, json_out=Path(args.json) if args.json else None, only=only)


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from api.keys import cli_keys

    return cli_keys(settings.resolved_database_url(), args)


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from api.migrations import cli_db

    return cli_db(settings.resolved_database_url(), args)


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from api.audit import cli_audit

    return cli_audit(settings.resolved_database_url(), settings.audit_retention_days, args)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parkmatch", description="Match relocating Beijing firms to receiving parks."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("parks", help="list the receiving-park catalogue")
    s.add_argument("--format", choices=("csv", "json"), default="csv")
    s.add_argument("--catalogue", help="another catalogue file to validate and list")
    s.add_argument("--province", help="北京市, 天津市 or 河北省 (北京/天津/河北 also work)")
    s.add_argument("--city", help="e.g. 廊坊 or 廊坊市")
    s.add_argument("--county", help="county name (香河 or 香河县) or 6-digit adcode")
    s.add_argument("--industry", help="GB/T 4754-2017 code: parks whose industries cover it")
    s.add_argument("--function", help="designated function, e.g. education, data_center")
    s.add_argument("--platform", help="platform type (e.g. trade_market) or 2+4+46 group (2, 4, 46)")
    s.add_argument(
        "--provenance", action="store_true", help="per field, the share of official/sourced/estimated/unknown"
    )
    s.set_defaults(func=_cmd_parks)

    s = sub.add_parser("industries", help="GB/T 4754-2017 industry classification")
    s.add_argument("--format", choices=("csv", "json"), default="csv")
    s.add_argument("--search", help="substring of the name, or a code prefix")
    s.add_argument("--level", choices=("门类", "大类", "中类", "小类"))
    s.set_defaults(func=_cmd_industries)

    s = sub.add_parser("synth", help="generate a simulated relocation history")
    s.add_argument("--firms", type=int, default=settings.world_firms)
    s.add_argument("--seed", type=int, default=settings.world_seed)
    s.add_argument("--out", required=True)
    s.add_argument("--overwrite", action="store_true", help="replace an existing world in OUT")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("train", help="train embeddings, index and ranker into a model bundle")
    s.add_argument("--data", help="simulated world directory (generated if missing)")
    s.add_argument("--out", help="model bundle directory")
    s.add_argument(
        "--relocations", help="documented cases to learn from (CSV in the data/relocations.csv layout)"
    )
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser(
        "retrain",
        help="build a challenger from the corpus, officers' outcomes and approved corrections; "
        "promote it only if it is not worse than the served model (docs/retrain.md)",
    )
    s.add_argument("--relocations", help="documented cases to learn from (default: the bundled corpus)")
    s.add_argument("--folds", type=int, help="folds of the real-case gate (default 5)")
    s.add_argument("--max-sim-events", type=int, help="simulated events in the gate's refits (default 15000)")
    s.add_argument(
        "--dry-run", action="store_true", help="judge the challenger but write and promote nothing"
    )
    s.add_argument("--report", help="write the verdict here (default var/retrain/<time>-<decision>.json)")
    s.set_defaults(func=_cmd_retrain)

    s = sub.add_parser("recommend", help="rank parks for one firm given as JSON")
    s.add_argument("firm", help="FirmProfile JSON file, or - for standard input")
    s.add_argument("--model")
    s.add_argument("--top", type=int, default=10)
    s.add_argument("--format", choices=("json", "table"), default="json")
    s.add_argument("--explain-excluded", action="store_true")
    s.add_argument(
        "--why", metavar="PARK_ID", help="where this park stands for the firm, and what would lift it"
    )
    s.add_argument("--compare", metavar="A,B,C", help="these parks side by side for the firm")
    s.set_defaults(func=_cmd_recommend)

    s = sub.add_parser("brief", help="a one-page Chinese brief (PDF) for a firm or a park")
    s.add_argument("kind", choices=("firm", "park"))
    s.add_argument("target", help="firm: FirmProfile JSON file (or -); park: its park_id")
    s.add_argument("-o", "--output", required=True, help="the PDF to write")
    s.add_argument("--leads", help="park only: leads as JSON or CSV (see docs/briefs.md)")
    s.add_argument("--firms", help="park only: a firm list (CSV, XLSX, Parquet) to find the leads in")
    s.add_argument("--model")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_brief)

    s = sub.add_parser("leads", help="rank firms for one park: whom to approach, and why")
    s.add_argument("firms", nargs="?", help="firm list (CSV, XLSX or Parquet)")
    s.add_argument("--park", required=True, help="park id (see `parkmatch parks`)")
    s.add_argument("--index", help="a firm index built by `parkmatch index-firms`, instead of a list")
    s.add_argument("-o", "--output", help=".xlsx, .csv or .parquet; JSON to standard output if omitted")
    s.add_argument("--top", type=int, default=50)
    s.add_argument("--model")
    s.add_argument("--headers", choices=("en", "zh"), default="en", help="CSV header row")
    s.set_defaults(func=_cmd_leads)

    s = sub.add_parser("index-firms", help="build a firm index (FAISS + Parquet) for `leads --index`")
    s.add_argument("firms", help="firm list (CSV, XLSX or Parquet)")
    s.add_argument("--out", required=True)
    s.add_argument("--index-type", choices=("ivf", "hnsw"), help="default: PARKMATCH_FIRM_INDEX_TYPE")
    s.add_argument("--model")
    s.set_defaults(func=_cmd_index_firms)

    s = sub.add_parser("evaluate", help="offline evaluation against baselines and real relocations")
    s.add_argument("--model")
    s.add_argument("--json", action="store_true", help="print the full JSON document")
    s.add_argument("--report", help="write an HTML report here")
    s.add_argument("--quick", action="store_true", help="smaller samples, for a fast look")
    s.add_argument(
        "--real-only", action="store_true", help="only the cross-validation on documented relocations"
    )
    s.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="with --real-only: average the CV over this many seeds (0, 1000, …); compare recipes on it",
    )
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("serve", help="serve the HTTP API (builds the default model on first run)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=_cmd_serve)

    s = sub.add_parser("match", help="batch-match a list of firms (CSV, XLSX or Parquet)")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--model")
    s.add_argument("--top", type=int, default=10)
    s.add_argument("--engine", choices=("local", "dask"), default="local")
    s.add_argument("--scheduler", help="address of a running Dask scheduler")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--allocate", action="store_true", help="capacity-aware first choices")
    s.add_argument("--resume", action="store_true", help="continue an interrupted run")
    s.add_argument(
        "--headers",
        choices=("en", "zh"),
        default="en",
        help="CSV header row: machine names (en) or Chinese (zh); XLSX is always Chinese, Parquet never",
    )
    s.set_defaults(func=_cmd_match)

    s = sub.add_parser("template", help="write an empty XLSX input template with the accepted headers")
    s.add_argument("-o", "--output", default="firms_template.xlsx")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_cmd_template)

    s = sub.add_parser("bench", help="benchmarks with peers side by side")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--json", help="write the full results as JSON here")
    s.add_argument(
        "--only",
        help="comma-separated sections: single, http, isolation (single p99 beside batches), soak, "
        "audit (single p99 with the audit log on and off), batch, training, retrieval, "
        "leads (a park's top leads over a firm index)",
    )
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("keys", help="manage API keys")
    ks = s.add_subparsers(dest="keys_command", required=True)
    k = ks.add_parser("create")
    k.add_argument("--org", required=True)
    k.add_argument("--role", choices=("viewer", "officer", "admin"), required=True)
    k.add_argument("--label", default="")
    ks.add_parser("list")
    k = ks.add_parser("revoke")
    k.add_argument("key_id")
    s.set_defaults(func=_cmd_keys)

    s = sub.add_parser("db", help="the database schema (Alembic revisions)")
    ds = s.add_subparsers(dest="db_command", required=True)
    ds.add_parser(
        "upgrade", help="apply every missing revision (idempotent; run it before serving on PostgreSQL)"
    )
    ds.add_parser("current", help="print the database's revision; exit 1 if it is behind")
    s.set_defaults(func=_cmd_db)

    s = sub.add_parser("audit", help="the audit log of served results: export to Parquet, prune")
    aus = s.add_subparsers(dest="audit_command", required=True)
    a = aus.add_parser("export", help="write audit rows to a Parquet file")
    a.add_argument("--since", required=True, help="YYYY-MM-DD (or an ISO time; UTC unless it says)")
    a.add_argument("--until", help="up to, not including, this day or time")
    a.add_argument("--org", help="one organisation's rows only")
    a.add_argument("--out", required=True, help="the .parquet file to write")
    a = aus.add_parser("prune", help="delete rows older than the retention period")
    a.add_argument("--days", type=int, help="default: PARKMATCH_AUDIT_RETENTION_DAYS")
    s.set_defaults(func=_cmd_audit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings()
    args = build_parser(settings).parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (CliError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"parkmatch {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
