"""The thin gRPC servicer: convert the request, call the engine, convert the result."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc

from recsvc.engine.engine import Engine
from recsvc.errors import RecsvcError
from recsvc.server import convert, experiments, fields, outcomes, responses
from recsvc.server.errors import code_of, grpc_errors
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PushRecommender"].full_name


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
        return responses.recommend_pb(self.engine.recommend(query, deadline_s=self._budget(context)))

    def RecommendStream(
        self, request_iterator: Iterator[pb.RecommendRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.RecommendStreamResponse]:
        for i, request in enumerate(request_iterator):
            if not context.is_active():
                return
            try:
                query = convert.recommend_query(request, self.settings)
                result = self.engine.recommend(query, deadline_s=self._budget(context))
                yield pb.RecommendStreamResponse(index=i, code=0, response=responses.recommend_pb(result))
            except RecsvcError as exc:
                yield pb.RecommendStreamResponse(index=i, code=code_of(exc).value[0], error=exc.message)
            except Exception as exc:
                logger.exception("RecommendStream item %d failed", i)
                yield pb.RecommendStreamResponse(
                    index=i, code=grpc.StatusCode.INTERNAL.value[0], error=f"internal error: {type(exc).__name__}"
                )

    @grpc_errors
    def ScoreUsers(self, request: pb.ScoreUsersRequest, context: grpc.ServicerContext) -> pb.ScoreUsersResponse:
        ids, as_of = convert.score_users_query(request, self.settings)
        scores, versions = self.engine.score_users(ids, as_of)
        return pb.ScoreUsersResponse(
            scores=[responses.user_score_pb(s) for s in scores], model_versions=responses.versions_pb(versions)
        )

    @grpc_errors
    def ReportEvents(self, request: pb.ReportEventsRequest, context: grpc.ServicerContext) -> pb.ReportEventsResponse:
        rows, event_ids = convert.report_events_rows(request, self.settings)
        return responses.report_pb(self.engine.report_events(rows, event_ids))

    @grpc_errors
    def UpsertItems(self, request: pb.UpsertItemsRequest, context: grpc.ServicerContext) -> pb.UpsertItemsResponse:
        upserted, indexed = self.engine.upsert_items(convert.item_rows(request.items, self.settings))
        return pb.UpsertItemsResponse(upserted=upserted, indexed=indexed)

    @grpc_errors
    def UpsertUsers(self, request: pb.UpsertUsersRequest, context: grpc.ServicerContext) -> pb.UpsertUsersResponse:
        rows = convert.user_rows(request.users, self.settings)
        return pb.UpsertUsersResponse(upserted=self.engine.upsert_users(rows))

    @grpc_errors
    def GetUserProfile(self, request: pb.GetUserProfileRequest, context: grpc.ServicerContext) -> pb.UserProfile:
        user_id = convert.profile_user_id(request, self.settings)
        profile = self.engine.profile(user_id, locale=convert.profile_locale(request, self.settings))
        return responses.profile_pb(profile)

    @grpc_errors
    def GenerateMessage(
        self, request: pb.GenerateMessageRequest, context: grpc.ServicerContext
    ) -> pb.GenerateMessageResponse:
        a = convert.message_args(request, self.settings)
        msg, stage = self.engine.generate_message(
            a.user_id,
            a.item_id,
            a.channel,
            trigger=a.trigger,
            locale=a.locale,
            offer=a.offer,
            deadline_s=self._budget(context),
        )
        return pb.GenerateMessageResponse(message=responses.message_pb(msg), stage=responses.stage_value(stage))

    @grpc_errors
    def AssistantReply(
        self, request: pb.AssistantReplyRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.AssistantReplyChunk]:
        a = convert.assistant_args(request, self.settings)
        for chunk in self.engine.assistant_reply(a.user_id, a.turns, max_items=a.max_items, locale=a.locale):
            if not context.is_active():
                return
            yield pb.AssistantReplyChunk(
                text=chunk.text,
                items=[responses.candidate_pb(c) for c in chunk.items],
                done=chunk.done,
                writer=responses.writer_value(chunk.writer),
            )

    @grpc_errors
    def GetMetrics(self, request: pb.GetMetricsRequest, context: grpc.ServicerContext) -> pb.GetMetricsResponse:
        values, versions = self.engine.metrics()
        return pb.GetMetricsResponse(
            values=values, model_versions=responses.versions_pb(versions), details=self.engine.status_details()
        )

    @grpc_errors
    def GetOutcomes(self, request: pb.GetOutcomesRequest, context: grpc.ServicerContext) -> pb.GetOutcomesResponse:
        query = outcomes.outcome_query(request, self.settings)
        rows = self.engine.outcome_rows(query)
        return outcomes.outcomes_pb(query, rows, self.engine.outcome_retention(query, datetime.now(UTC)))

    @grpc_errors
    def CreateExperiment(self, request: pb.CreateExperimentRequest, context: grpc.ServicerContext) -> pb.Experiment:
        now = datetime.now(UTC)
        exp = self.engine.registry.create(experiments.experiment_of(request, self.settings, now), now)
        return experiments.experiment_pb(exp, from_settings=False, now=now)

    @grpc_errors
    def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> pb.ListExperimentsResponse:
        now = datetime.now(UTC)
        registry = self.engine.registry
        registry.stored(fresh=True)
        return pb.ListExperimentsResponse(
            experiments=[
                experiments.experiment_pb(e, from_settings=registry.from_settings(e.id), now=now)
                for e in registry.all()
            ]
        )

    @grpc_errors
    def StopExperiment(self, request: pb.StopExperimentRequest, context: grpc.ServicerContext) -> pb.Experiment:
        now = datetime.now(UTC)
        exp_id = fields.text(request.experiment_id, "experiment_id", self.settings.limits.max_id_len, required=True)
        at = fields.timestamp(request.at, "at", default=now)
        return experiments.experiment_pb(self.engine.registry.stop(exp_id, at), from_settings=False, now=now)


def add_to_server(engine: Engine, server: grpc.Server) -> None:
    """Serve ``recsvc.v1.PushRecommender`` on ``server`` over ``engine``."""
    pb_grpc.add_PushRecommenderServicer_to_server(PushRecommenderServicer(engine), server)
