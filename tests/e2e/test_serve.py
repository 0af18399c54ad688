"""`plinth serve` with SmolLM2-135M-Instruct on 127.0.0.1, driven by the official `openai` Python client:
models, chat and text completions (whole and streamed, with usage), the stream's shape as OpenAI sends it,
seeded replies equal streamed or not and alone or beside 7 others, n choices, stop strings, max_tokens,
logprobs (<= 0, tokens concatenating to the content), json_schema / json_object output that parses and
validates, tokenize / detokenize, embeddings' answer without an encoder, and /metrics counting it all."""
import concurrent.futures as cf
import json

import openai
import pytest

from serve_helpers import Server

SLOTS = 8


@pytest.fixture(scope="module")
def server():
    s = Server("--slots", str(SLOTS), "-t", "2", "--ctx", "1024")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model(client):
    return client.models.list().data[0].id


def chat(client, model, text, **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def streamed(client, model, text, **kw):
    """(content, chunks) of a streamed chat completion"""
    chunks = list(chat(client, model, text, stream=True, **kw))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def test_models(client):
    models = client.models.list().data
    assert [m.id for m in models] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert models[0].owned_by == "plinth"


def test_chat(client, model):
    r = chat(client, model, "What is the capital of France?", max_tokens=24, seed=1)
    c = r.choices[0]
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == model
    assert c.message.role == "assistant" and c.message.content
    assert c.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 24 and r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # the model alias without .gguf routes too
    r2 = chat(client, model.removesuffix(".gguf"), "What is the capital of France?", max_tokens=24, seed=1)
    assert r2.choices[0].message.content == c.message.content


def test_stream_shape_and_equality(client, model):
    """one id, role in the first delta, finish_reason once at the end, the usage chunk, text = the whole reply"""
    whole = chat(client, model, "Name three colours.", max_tokens=32, seed=7, temperature=0.9)
    text, chunks = streamed(client, model, "Name three colours.", max_tokens=32, seed=7, temperature=0.9,
                            stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_completions(client, model):
    r = client.completions.create(model=model, prompt="The quick brown fox", max_tokens=16, seed=3)
    assert r.object == "text_completion" and r.choices[0].text and r.usage.completion_tokens <= 16
    s = client.completions.create(model=model, prompt="The quick brown fox", max_tokens=16, seed=3, stream=True)
    chunks = list(s)
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == [r.choices[0].finish_reason]


def test_max_tokens_and_stop(client, model):
    r = chat(client, model, "Count from 1 to 50, separated by commas.", max_tokens=5, seed=1)
    assert r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length"
    full = client.completions.create(model=model, prompt="1, 2, 3, 4, 5, 6,", max_tokens=20, temperature=0)
    text = full.choices[0].text
    assert len(text) > 4
    stop = text[2:4]  # a stop string from the reply's own text: the reply ends before it
    cut = client.completions.create(model=model, prompt="1, 2, 3, 4, 5, 6,", max_tokens=20, temperature=0, stop=[stop])
    assert cut.choices[0].finish_reason == "stop" and cut.choices[0].text == text[:text.index(stop)]


def test_n_choices(client, model):
    r = chat(client, model, "Say something about the sea.", max_tokens=12, seed=11, n=2)
    assert [c.index for c in r.choices] == [0, 1]
    one = chat(client, model, "Say something about the sea.", max_tokens=12, seed=11)
    assert r.choices[0].message.content == one.choices[0].message.content
    assert r.usage.completion_tokens > one.usage.completion_tokens  # counted over both choices


def test_logprobs(client, model):
    r = chat(client, model, "Write one sentence about bread.", max_tokens=24, seed=5, logprobs=True, top_logprobs=3)
    c = r.choices[0]
    items = c.logprobs.content
    assert len(items) == r.usage.completion_tokens or c.finish_reason == "stop"
    assert "".join(t.token for t in items) == c.message.content
    for t in items:
        assert t.logprob <= 0
        assert bytes(t.bytes) == t.token.encode()
        assert len(t.top_logprobs) == 3
        tops = [a.logprob for a in t.top_logprobs]
        assert tops == sorted(tops, reverse=True) and all(x <= 0 for x in tops)
        assert t.logprob <= tops[0] + 1e-5
    # streamed: the same tokens, in pieces
    s = list(chat(client, model, "Write one sentence about bread.", max_tokens=24, seed=5, logprobs=True,
                  top_logprobs=3, stream=True))
    toks = [t for ch in s if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
    assert [t.token for t in toks] == [t.token for t in items]
    assert [round(t.logprob, 5) for t in toks] == [round(t.logprob, 5) for t in items]
    # completions' own shape
    cr = client.completions.create(model=model, prompt="Bread is", max_tokens=8, seed=5, logprobs=2)
    lp = cr.choices[0].logprobs
    assert "".join(lp.tokens) == cr.choices[0].text and all(x <= 0 for x in lp.token_logprobs)
    assert all(len(d) <= 2 for d in lp.top_logprobs)


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer"},
        "city": {"type": "string", "enum": ["Paris", "Berlin", "Rome"]},
        "pets": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        "student": {"type": "boolean"},
    },
    "required": ["name", "age", "city", "pets", "student"],
    "additionalProperties": False,
}


def validate_person(obj):
    """the schema above, checked by hand (no jsonschema package in CI)"""
    assert isinstance(obj, dict) and set(obj) == set(PERSON["properties"])
    assert isinstance(obj["name"], str) and len(obj["name"]) <= 24
    assert isinstance(obj["age"], int) and not isinstance(obj["age"], bool)
    assert obj["city"] in ("Paris", "Berlin", "Rome")
    assert isinstance(obj["pets"], list) and len(obj["pets"]) <= 3
    assert all(isinstance(p, str) and len(p) <= 12 for p in obj["pets"])
    assert isinstance(obj["student"], bool)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_schema(client, model, seed):
    r = chat(client, model, "Describe a person as JSON.", max_tokens=120, seed=seed,
             response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}})
    assert r.choices[0].finish_reason == "stop"
    validate_person(json.loads(r.choices[0].message.content))


def test_json_object(client, model):
    r = chat(client, model, "Give a JSON object with a key 'colour'.", max_tokens=200, seed=4, temperature=0,
             response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    else:  # out of tokens: still a prefix of an object
        assert r.choices[0].message.content.startswith("{")


def test_unsupported_schema_is_a_400(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, "x", max_tokens=4, response_format={
            "type": "json_schema", "json_schema": {"name": "u", "schema": {"anyOf": [{"type": "string"}]}}})
    assert "anyOf" in str(e.value)


def test_batching_changes_nothing(client, model):
    """each reply is the same produced alone as while 7 others decode beside it (their own seeds and prompts)"""
    prompts = [f"Tell me about animal number {i}: a {a}." for i, a in
               enumerate(["cat", "dog", "horse", "owl", "fox", "bee", "cow", "eel"])]

    def ask(i):
        r = chat(client, model, prompts[i], max_tokens=24, seed=100 + i, temperature=0.8)
        return r.choices[0].message.content

    alone = [ask(i) for i in range(8)]
    with cf.ThreadPoolExecutor(8) as ex:
        together = list(ex.map(ask, range(8)))
    assert together == alone


def test_prefix_reuse(client, model):
    """a long shared system prompt is read once: the next request finds it cached, and the reply is unchanged"""
    system = "You are a careful assistant who answers briefly. " * 12
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": "Say hello."}]
    a = client.chat.completions.create(model=model, messages=msgs, max_tokens=12, seed=9)
    b = client.chat.completions.create(model=model, messages=msgs, max_tokens=12, seed=9)
    assert b.usage.prompt_tokens_details.cached_tokens >= 64
    assert a.choices[0].message.content == b.choices[0].message.content


def test_tokenize_roundtrip(server):
    st, _, body = server.request("POST", "/tokenize", {"content": "Hello world, plinth!"})
    assert st == 200
    toks = json.loads(body)["tokens"]
    assert len(toks) >= 4 and all(isinstance(t, int) for t in toks)
    st, _, body = server.request("POST", "/detokenize", {"tokens": toks})
    assert st == 200 and json.loads(body)["content"] == "Hello world, plinth!"
    st, _, body = server.request("POST", "/detokenize", {"tokens": [10 ** 9]})
    assert st == 400 and "token id" in json.loads(body)["error"]["message"]


def test_embeddings_need_an_encoder(client, model):
    """a generating model makes no embeddings: a 400 that says how to load an encoder, and a 404 for a name that
    is nothing loaded (test_serve_embeddings.py serves an encoder)"""
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=model, input="hello")
    assert "--embed-model" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="all-minilm-l6-v2", input="hello")


def test_metrics_count_everything(server, client, model):
    before = server.wait_idle()
    chat(client, model, "Hi", max_tokens=4, seed=1)
    m = server.wait_idle()
    name = 'model="SmolLM2-135M-Instruct.Q4_1.gguf"'
    assert m[f"plinth_slots_busy{{{name}}}"] == 0 and m[f"plinth_queue_depth{{{name}}}"] == 0
    assert m[f"plinth_slots{{{name}}}"] == SLOTS
    assert m[f"plinth_generated_tokens_total{{{name}}}"] >= before[f"plinth_generated_tokens_total{{{name}}}"] + 1
    ok = 'plinth_requests_total{route="/v1/chat/completions",status="200"}'
    assert m[ok] == before[ok] + 1
    ttft = f"plinth_time_to_first_token_seconds_count{{{name}}}"
    assert m[ttft] == before[ttft] + 1
    assert m[f'plinth_time_to_first_token_seconds_bucket{{{name},le="+Inf"}}'] == m[ttft]
    assert m[f"plinth_kv_cells{{{name}}}"] == SLOTS * 1024
