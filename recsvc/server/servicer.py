"""The thin gRPC servicer: convert the request, call the engine, convert the result."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc

from recsvc.engine.engine import Engine
from recsvc.errors import InvalidArgument, RecsvcError
from recsvc.server import convert
from recsvc.server.errors import code_of, grpc_errors
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)


class PushRecommenderServicer(pb_grpc.PushRecommenderServicer):
    """Implements ``recsvc.v1.PushRecommender`` over an :class:`Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings

    def _budget(self, context: grpc.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else max(0.0, float(remaining))

    @grpc_errors
    def Recommend(self, request: pb.RecommendRequest, context: grpc.ServicerContext) -> pb.RecommendResponse:
        query = convert.recommend_query(request, self.settings)
        return convert.recommend_pb(self.engine.recommend(query, deadline_s=self._budget(context)))

    def RecommendStream(
        self, request_iterator: Iterator[pb.RecommendRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendStreamResponse]:
        for i, request in enumerate(request_iterator):
            if not context.is_active():
                return
            try:
                query = convert.recommend_query(request, self.settings)
                result = self.engine.recommend(query, deadline_s=self._budget(context))
                yield pb.RecommendStreamResponse(index=i, code=0, response=convert.recommend_pb(result))
            except RecsvcError as exc:
                yield pb.RecommendStreamResponse(index=i, code=code_of(exc).value[0], error=exc.message)
            except Exception as exc:
                logger.exception("RecommendStream item %d failed", i)
                yield pb.RecommendStreamResponse(
                    index=i, code=grpc.StatusCode.INTERNAL.value[0], error=f"internal error: {type(exc).__name__}"
                )

    @grpc_errors
    def ScoreUsers(self, request: pb.ScoreUsersRequest, context: grpc.ServicerContext) -> pb.ScoreUsersResponse:
        limit = self.settings.server.max_users_per_call
        if not request.user_ids:
            raise InvalidArgument("user_ids is empty", field="user_ids")
        if len(request.user_ids) > limit:
            raise InvalidArgument(
                f"user_ids has {len(request.user_ids)} ids; the limit is {limit} per call", field="user_ids"
            )
        ids = [convert.check_user_id(u, self.settings, f"user_ids[{i}]") for i, u in enumerate(request.user_ids)]
        as_of = convert.ts_to_dt(request.as_of, "as_of", default=datetime.now(UTC))
        scores, versions = self.engine.score_users(ids, as_of)
        return pb.ScoreUsersResponse(
            scores=[convert.user_score_pb(s) for s in scores], model_versions=convert.versions_pb(versions)
        )

    @grpc_errors
    def ReportEvents(self, request: pb.ReportEventsRequest, context: grpc.ServicerContext) -> pb.ReportEventsResponse:
        limit = self.settings.server.max_events_per_call
        if len(request.events) > limit:
            raise InvalidArgument(
                f"events has {len(request.events)} rows; the limit is {limit} per call (split the batch)",
                field="events",
            )
        return convert.report_pb(
            self.engine.report_events(convert.event_rows(request.events), [e.event_id for e in request.events])
        )

    @grpc_errors
    def UpsertItems(self, request: pb.UpsertItemsRequest, context: grpc.ServicerContext) -> pb.UpsertItemsResponse:
        if not request.items:
            raise InvalidArgument("items is empty", field="items")
        upserted, indexed = self.engine.upsert_items(convert.item_rows(request.items))
        return pb.UpsertItemsResponse(upserted=upserted, indexed=indexed)

    @grpc_errors
    def UpsertUsers(self, request: pb.UpsertUsersRequest, context: grpc.ServicerContext) -> pb.UpsertUsersResponse:
        if not request.users:
            raise InvalidArgument("users is empty", field="users")
        return pb.UpsertUsersResponse(upserted=self.engine.upsert_users(convert.user_rows(request.users)))

    @grpc_errors
    def GetUserProfile(self, request: pb.GetUserProfileRequest, context: grpc.ServicerContext) -> pb.UserProfile:
        uid = convert.check_user_id(request.user_id, self.settings)
        return convert.profile_pb(self.engine.profile(uid))

    @grpc_errors
    def GenerateMessage(
        self, request: pb.GenerateMessageRequest, context: grpc.ServicerContext
    ) -> pb.GenerateMessageResponse:
        uid = convert.check_user_id(request.user_id, self.settings)
        if not request.item_id:
            raise InvalidArgument("item_id is empty", field="item_id")
        channel = convert.channel_name(request.channel or pb.CHANNEL_APP_PUSH, "channel")
        trigger = convert._enum_name(pb.Trigger, request.context.trigger, "context.trigger", "TRIGGER_")
        msg, stage = self.engine.generate_message(
            uid,
            request.item_id,
            channel,
            trigger="scheduled" if trigger == "unspecified" else trigger,
            locale=request.context.locale,
            offer=request.offer,
            deadline_s=self._budget(context),
        )
        return pb.GenerateMessageResponse(message=convert.message_pb(msg), stage=convert.stage_value(stage))

    @grpc_errors
    def AssistantReply(
        self, request: pb.AssistantReplyRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.AssistantReplyChunk]:
        uid = convert.check_user_id(request.user_id, self.settings)
        if not request.conversation:
            raise InvalidArgument("conversation is empty", field="conversation")
        turns = []
        for i, t in enumerate(request.conversation):
            if t.role not in ("user", "assistant", "system"):
                raise InvalidArgument(
                    f"conversation[{i}].role must be user or assistant", field=f"conversation[{i}].role"
                )
            turns.append((t.role, t.text[:4000]))
        max_items = request.max_items or 3
        if not 1 <= max_items <= 20:
            raise InvalidArgument("max_items must be between 1 and 20", field="max_items")
        for chunk in self.engine.assistant_reply(uid, turns, max_items=max_items, locale=request.locale):
            if not context.is_active():
                return
            yield pb.AssistantReplyChunk(
                text=chunk.text,
                items=[convert.candidate_pb(c) for c in chunk.items],
                done=chunk.done,
                writer=convert.writer_value(chunk.writer),
            )

    @grpc_errors
    def GetMetrics(self, request: pb.GetMetricsRequest, context: grpc.ServicerContext) -> pb.GetMetricsResponse:
        values, versions = self.engine.metrics()
        return pb.GetMetricsResponse(
            values=values, model_versions=convert.versions_pb(versions), details=self.engine.status_details()
        )
