"""A small client for the CLI, the MCP bridge and the examples: one call, a plain dict back."""

from __future__ import annotations

from typing import Any, cast

import grpc
from google.protobuf.json_format import MessageToDict

from recsvc.errors import FailedPrecondition, InvalidArgument, RecsvcError, Unavailable
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from recsvc.vocabulary import TRIGGERS, enum_value

_STATUS_ERRORS: dict[grpc.StatusCode, type[RecsvcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def channel_for(target: str, *, tls_ca: str | None = None) -> grpc.Channel:
    if tls_ca:
        with open(tls_ca, "rb") as f:
            return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=f.read()))
    return grpc.insecure_channel(target)


def metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def rpc_error(exc: grpc.RpcError, target: str) -> RecsvcError:
    """Turn a failed call into a one-line domain error for the CLI."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    detail = exc.details() if hasattr(exc, "details") else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(f"no recsvc server answering at {target} (start one with `make run` or `recsvc serve`)")
    cls = _STATUS_ERRORS.get(code, RecsvcError)
    return cls(f"{code.name}: {detail}")


def recommend_once(
    target: str,
    user_id: str,
    *,
    max_candidates: int = 3,
    trigger: str = "scheduled",
    locale: str = "",
    write_copy: bool = True,
    token: str = "",
    timeout_s: float = 10.0,
    tls_ca: str | None = None,
) -> dict[str, Any]:
    with channel_for(target, tls_ca=tls_ca) as ch:
        stub = pb_grpc.PushRecommenderStub(ch)
        req = pb.RecommendRequest(
            user_id=user_id,
            max_candidates=max_candidates,
            write_copy=write_copy,
            context=pb.RequestContext(trigger=cast(Any, enum_value(TRIGGERS, trigger)), locale=locale),
        )
        try:
            resp = stub.Recommend(req, timeout=timeout_s, metadata=metadata(token))
        except grpc.RpcError as exc:
            raise rpc_error(exc, target) from None
    return MessageToDict(resp, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _enum(value: str, prefix: str) -> str:
    return value[len(prefix) :].lower() if value.startswith(prefix) else value.lower()


def format_recommendation(r: dict[str, Any]) -> str:
    """A readable text block for people at a shell."""
    lc = r.get("lifecycle", {})
    lines = [
        f"user {r['user_id']}{'  (new user: cold start)' if r.get('new_user') else ''}",
        f"  stage: {_enum(lc.get('current_stage', ''), 'LIFECYCLE_STAGE_')} now, "
        f"predicted {_enum(lc.get('predicted_stage', ''), 'LIFECYCLE_STAGE_')}",
        f"  churn risk: {lc.get('churn_risk', 0):.2f} over {lc.get('churn_horizon_days', 0)} days",
    ]
    for reason in lc.get("churn_reasons", [])[:3]:
        sign = "+" if reason.get("contribution", 0) >= 0 else "-"
        lines.append(f"    {sign} {reason.get('text', '')}")
    lines.append(f"  engagement tier: {_enum(r.get('engagement_tier', ''), 'ENGAGEMENT_TIER_')}")
    sup = r.get("suppression") or {}
    if sup.get("reason") and sup["reason"] != "SUPPRESSION_REASON_UNSPECIFIED":
        lines.append(f"  NOT SENDING NOW: {_enum(sup['reason'], 'SUPPRESSION_REASON_')}: {sup.get('detail', '')}")
    for c in r.get("candidates", []):
        it = c.get("item", {})
        msg = c.get("message", {})
        st = c.get("send_time", {})
        lines += [
            f"  #{c.get('rank')} {it.get('title')} [{it.get('item_id')}] "
            f"{it.get('price', 0):.2f} {it.get('currency', '')}"
            f"  score {c.get('score', 0):.3f}",
            f"     why: {c.get('reason', '')} ({c.get('source', '')})",
            f"     channel: {_enum(c.get('channel', ''), 'CHANNEL_')} ({c.get('channel_reason', '')})",
            f"     send at: {st.get('send_at', '')} (local hour {st.get('local_hour', 0)} {st.get('timezone', '')}, "
            f"confidence {st.get('confidence', 0):.2f})",
        ]
        if msg.get("title") or msg.get("body"):
            writer = _enum(msg.get("writer", ""), "WRITER_")
            failed = f", guardrail failed: {msg['guardrail_failed']}" if msg.get("guardrail_failed") else ""
            lines += [
                f"     copy ({writer}{failed}): {msg.get('title', '')} | {msg.get('body', '')} "
                f"[{msg.get('call_to_action', '')}]",
            ]
            if msg.get("media_url"):
                lines.append(f"     media: {msg['media_url']}")
    v = r.get("model_versions", {})
    lines.append(
        f"  models: lifecycle {v.get('lifecycle')}, recs {v.get('recs')}, sendtime {v.get('sendtime')}, "
        f"copy {v.get('copy_model')}"
    )
    return "\n".join(lines)
