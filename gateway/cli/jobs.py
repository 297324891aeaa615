"""Async jobs from the command line: `imagegate generate --async` and `imagegate job ID`.

imagegate generate "a fox" --async     prints the job id, follows its events, saves the images
imagegate job ID                       the job's state (JSON; image bytes elided)
imagegate job ID --events              follows its events (one line each), saves the images
imagegate job ID --cancel              cancels it
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.client import DEFAULT_BASE_URL, add_signer_arguments, signer_from_args

if TYPE_CHECKING:
    from gateway.client import Signer


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    job = commands.add_parser("job", help="show, follow or cancel an async job")
    job.add_argument("job_id")
    job.add_argument("--url", default=DEFAULT_BASE_URL, help=f"gateway base URL (default {DEFAULT_BASE_URL})")
    job.add_argument("--events", action="store_true", help="follow the job's events to its end")
    job.add_argument("--cancel", action="store_true", help="cancel the job")
    job.add_argument("--out-dir", default=".", help="with --events: where to save the images (default .)")
    add_signer_arguments(job)  # the account that submitted the job
    job.set_defaults(run=_job)


def run_async(args: argparse.Namespace, body: dict[str, object], signer: Signer) -> int:
    """`imagegate generate --async`: submit, print the job id (first line of stdout), follow it."""
    import httpx

    from gateway.client import GatewayCallError, wait_until_up
    from gateway.client_jobs import submit_job

    try:
        with httpx.Client(timeout=httpx.Timeout(300.0, connect=5.0)) as client:
            wait_until_up(args.url, client)
            accepted = submit_job(args.url, body, signer, client=client, issued_nonce=args.issued_nonce)
            sys.stdout.write(f"{accepted['id']}\n")
            sys.stdout.flush()
            return _follow(args.url, accepted["id"], signer, client, args.out_dir, n=args.n, echo=False)
    except (GatewayCallError, httpx.HTTPError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


def _job(args: argparse.Namespace) -> int:
    import httpx

    from gateway.client import GatewayCallError

    signer = signer_from_args(args)
    if signer is None:
        return 2
    try:
        with httpx.Client(timeout=httpx.Timeout(300.0, connect=5.0)) as client:
            if args.events:
                return _follow(args.url, args.job_id, signer, client, args.out_dir, n=1, echo=True)
            from gateway.client_jobs import cancel_job, get_job

            read = cancel_job if args.cancel else get_job
            job = read(args.url, args.job_id, signer, client=client)
    except (GatewayCallError, httpx.HTTPError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(_elided(job), indent=2) + "\n")
    return 0


def _follow(
    base_url: str, job_id: str, signer: Signer, client: Any, out_dir: str, *, n: int, echo: bool
) -> int:
    from pathlib import Path

    from gateway.client import save_images
    from gateway.client_jobs import follow_events

    ending, data = follow_events(
        base_url,
        job_id,
        signer,
        client=client,
        n=n,
        progress=None if echo else sys.stderr,
        echo=sys.stdout if echo else None,
    )
    if ending == "error":
        error = data.get("error", {})
        sys.stderr.write(f"error: job {job_id} failed: {error.get('code', '')}: {error.get('message', '')}\n")
        return 1
    paths = save_images(data, Path(out_dir))
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return 0 if data.get("status") == "completed" else 3


def _elided(job: dict[str, Any]) -> dict[str, Any]:
    """The job with each image's base64 replaced by its length (a terminal is no place for it)."""
    result = job.get("result")
    for image in (result or {}).get("images", []) if isinstance(result, dict) else []:
        url = image.get("data_url")
        if isinstance(url, str) and "," in url:
            head, _, data = url.partition(",")
            image["data_url"] = f"{head},<{len(data)} base64 characters>"
    return job
