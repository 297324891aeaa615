"""GET /api/v1/models: canonical models, their deployments and what each supports."""

from __future__ import annotations

import msgspec
from litestar import Response, get

from gateway.api.types import HttpRequest
from gateway.canonical import Operation
from gateway.routing.strategy import operation_of
from gateway.runtime import Deployment, Runtime
from gateway.schemas import ModelCapabilities, ModelInfo, ModelProvider, ModelsResponse
from gateway.services import Services

_ENCODER = msgspec.json.Encoder()


@get("/api/v1/models", summary="List models", operation_id="listModels")
async def list_models(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    return Response(content=_ENCODER.encode(describe_models(services.runtime)), media_type="application/json")


def describe_models(runtime: Runtime) -> ModelsResponse:
    data = []
    for slug, model in runtime.config.models.items():
        providers = []
        for deployment in runtime.deployments(slug):
            caps = deployment.adapter.capabilities(deployment.config.model)
            providers.append(
                ModelProvider(
                    deployment=deployment.label,
                    provider=deployment.provider,
                    adapter=deployment.provider_config.adapter,  # as configured (an alias stays one)
                    model=deployment.config.model,
                    capabilities=ModelCapabilities(
                        max_n=caps.max_n,
                        sizes=None if caps.sizes is None else [f"{w}x{h}" for w, h in caps.sizes],
                        min_side=caps.min_side,
                        max_side=caps.max_side,
                        size_multiple=caps.size_multiple,
                        seed=caps.supports_seed,
                        negative_prompt=caps.supports_negative_prompt,
                        steps=caps.supports_steps,
                        guidance=caps.supports_guidance,
                        formats=list(caps.formats),
                        streaming=caps.streaming,
                        aspect_ratios=None
                        if caps.aspect_ratios is None
                        else [f"{w}:{h}" for w, h in caps.aspect_ratios],
                        edit=caps.edit and can_edit(deployment),
                        max_input_images=caps.max_input_images if can_edit(deployment) else 0,
                        edit_mask=caps.edit_mask and can_edit(deployment),
                    ),
                )
            )
        data.append(
            ModelInfo(id=slug, aliases=model.aliases, description=model.description, providers=providers)
        )
    return ModelsResponse(object="list", data=data)


def can_edit(deployment: Deployment) -> bool:
    """The adapter has an `edit` method (capabilities alone may be declared ahead of one)."""
    return operation_of(deployment, Operation.EDIT) is not None
