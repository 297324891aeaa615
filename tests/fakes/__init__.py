"""Protocol-faithful provider fakes, one module per provider, shared by every suite.

Each module holds its provider's wire protocol once (routes, bodies from tests/fixtures/, streaming
events) and serves it in-process through `httpx.MockTransport`: a plain fake (`FakeOpenAI` — also
each OpenAI-compatible dialect —, `FakeBFL`, `FakeA1111`, `FakeComfy`, `FakeGoogle`, `FakeStability`,
`FakeFal`, `FakeReplicate`, with `Failure` injection at the generation step) and a
streaming one (`StreamingOpenAI`, `PollingBFL`, `ProgressA1111`, `WebSocketComfy`, with per-call
modes: error events, hangs, resets). The loopback-socket fake for real `imagegate serve` processes
(tests/reliability/fake_upstream.py: resets, slow bytes, hostile bodies) answers with the same
bodies from here. They speak the wire protocol only: nothing here imports an adapter.
"""
