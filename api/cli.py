"""The ``parkmatch`` command.

Settings are read here, once, and handed to the code that needs them.  Each subcommand imports
its implementation lazily so ``parkmatch parks`` does not pay for LightGBM or Dask.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from api.core.config import Settings


class CliError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def _cmd_parks(args: argparse.Namespace, settings: Settings) -> int:
    from features.reference import load_parks, parks_json

    df = load_parks(args.catalogue or settings.catalogue_path)
    if args.format == "json":
        sys.stdout.write(parks_json(df) + "\n")
    else:
        out = df.copy()
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, list)).any():
                out[col] = out[col].map(lambda v: ";".join(v) if isinstance(v, list) else v)
        out.to_csv(sys.stdout, index=False)
    return 0


def _cmd_industries(args: argparse.Namespace, settings: Settings) -> int:
    from features.reference import load_industries

    df = load_industries()
    if args.search:
        df = df[df["name"].str.contains(args.search, regex=False) | df["code"].str.startswith(args.search)]
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

    return cli_train(
        settings=settings,
        data_dir=Path(args.data) if args.data else settings.resolved_world_dir(),
        out=Path(args.out) if args.out else settings.resolved_model_dir(),
    )


def _cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.cli import cli_recommend

    return cli_recommend(
        firm_path=Path(args.firm),
        model_dir=Path(args.model) if args.model else settings.resolved_model_dir(),
        top=args.top,
        fmt=args.format,
        explain_excluded=args.explain_excluded,
    )


def _cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from training.evaluate import cli_evaluate

    return cli_evaluate(
        settings=settings,
        model_dir=Path(args.model) if args.model else settings.resolved_model_dir(),
        as_json=args.json,
        report=Path(args.report) if args.report else None,
        quick=args.quick,
    )


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.serve import cli_serve

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    return cli_serve(settings, workers=args.workers)


def _cmd_match(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.batch import cli_match

    return cli_match(
        settings=settings,
        inp=Path(args.input),
        out=Path(args.output),
        model_dir=Path(args.model) if args.model else settings.resolved_model_dir(),
        top=args.top,
        engine=args.engine,
        scheduler=args.scheduler,
        workers=args.workers,
        allocate=args.allocate,
        resume=args.resume,
    )


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from training.bench import cli_bench

    return cli_bench(settings=settings, quick=args.quick, json_out=Path(args.json) if args.json else None)


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from api.keys import cli_keys

    return cli_keys(settings, args)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parkmatch", description="Match relocating Beijing firms to receiving parks.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("parks", help="list the receiving-park catalogue")
    s.add_argument("--format", choices=("csv", "json"), default="csv")
    s.add_argument("--catalogue", help="another catalogue file to validate and list")
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
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("recommend", help="rank parks for one firm given as JSON")
    s.add_argument("firm", help="FirmProfile JSON file, or - for standard input")
    s.add_argument("--model")
    s.add_argument("--top", type=int, default=10)
    s.add_argument("--format", choices=("json", "table"), default="json")
    s.add_argument("--explain-excluded", action="store_true")
    s.set_defaults(func=_cmd_recommend)

    s = sub.add_parser("evaluate", help="offline evaluation against baselines and real relocations")
    s.add_argument("--model")
    s.add_argument("--json", action="store_true", help="print the full JSON document")
    s.add_argument("--report", help="write an HTML report here")
    s.add_argument("--quick", action="store_true", help="smaller samples, for a fast look")
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
    s.set_defaults(func=_cmd_match)

    s = sub.add_parser("bench", help="benchmarks with peers side by side")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--json", help="write the full results as JSON here")
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
