"""/v1/embeddings of `plinth serve --embed-model` (all-MiniLM-L6-v2) beside SmolLM2, through the official `openai`
client: float and base64 vectors equal `plinth embed`'s for the same texts, token-id input, usage, the model list,
and every bad input answered with a 4xx in OpenAI's shape (empty or mistyped input, unknown or generating model,
a bad encoding_format or dimensions, ids outside the vocabulary, too many inputs); an embeddings-only server."""
import base64
import os
import subprocess

import numpy as np
import openai
import pytest

from helpers import ROOT, plinth_bin
from serve_helpers import Server

MINILM = os.path.join(ROOT, "models", "all-minilm-l6-v2")
ENC = "all-minilm-l6-v2"
TEXTS = ["a cat sits on the mat", "The stock market fell sharply on Tuesday.", "서울은 한국의 수도이다",
         "def add(a, b):\n    return a + b", "word " * 400]


@pytest.fixture(scope="module")
def server():
    if not os.path.exists(os.path.join(MINILM, "model.safetensors")):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "minilm"], check=True)
    s = Server("--embed-model", MINILM, "--max-embed-inputs", "64", "-t", "2", "--ctx", "512")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "v1", api_key="unused", max_retries=0, timeout=300)


def plinth_embed(texts):
    """`plinth embed --format f32 TEXT...`: n x 384 float32"""
    r = subprocess.run([plinth_bin(), "embed", "-m", MINILM, "--format", "f32", "-q", "-t", "2", "--", *texts],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4").reshape(len(texts), -1)


@pytest.fixture(scope="module")
def reference():
    return plinth_embed(TEXTS)


def test_models_lists_the_encoder(client):
    ids = [m.id for m in client.models.list().data]
    assert ids == ["SmolLM2-135M-Instruct.Q4_1.gguf", ENC]


def test_float_equals_plinth_embed(client, reference):
    r = client.embeddings.create(model=ENC, input=TEXTS, encoding_format="float")
    assert r.object == "list" and r.model == ENC and len(r.data) == len(TEXTS)
    got = np.array([d.embedding for d in sorted(r.data, key=lambda d: d.index)], dtype=np.float32)
    assert [d.index for d in r.data] == list(range(len(TEXTS)))
    assert got.shape == (len(TEXTS), 384)
    assert np.max(np.abs(got - reference)) <= 1e-6
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert r.usage.prompt_tokens == r.usage.total_tokens and r.usage.prompt_tokens > 256  # the long one is cut to 256


def test_base64_equals_plinth_embed(client, reference):
    """the client's default asks for base64 and decodes it to floats itself"""
    r = client.embeddings.create(model=ENC, input=TEXTS)
    got = np.array([d.embedding for d in r.data], dtype=np.float32)
    assert np.max(np.abs(got - reference)) <= 1e-6


def test_base64_is_little_endian_f32(server, reference):
    import json
    st, _, body = server.request("POST", "/v1/embeddings", {"model": ENC, "input": TEXTS[1], "encoding_format": "base64"})
    assert st == 200
    b = base64.b64decode(json.loads(body)["data"][0]["embedding"])
    assert len(b) == 384 * 4
    assert np.array_equal(np.frombuffer(b, dtype="<f4"), np.asarray(
        json.loads(server.request("POST", "/v1/embeddings", {"model": ENC, "input": TEXTS[1]})[2])["data"][0]["embedding"],
        dtype=np.float32))
    assert np.max(np.abs(np.frombuffer(b, dtype="<f4") - reference[1])) <= 1e-6


def test_single_string_and_default_model(client, server, reference):
    import json
    r = client.embeddings.create(model=ENC, input=TEXTS[2], encoding_format="float")
    assert len(r.data) == 1 and np.max(np.abs(np.array(r.data[0].embedding) - reference[2])) <= 1e-6
    st, _, body = server.request("POST", "/v1/embeddings", {"input": TEXTS[0]})  # no model: the first encoder
    assert st == 200 and json.loads(body)["model"] == ENC


def test_token_ids(server, reference):
    """token arrays are the encoder's own ids, run as given: the ids plinth tokenize gives equal the text"""
    import json
    st, _, body = server.request("POST", "/v1/embeddings", {"model": ENC, "input": [[101, 1037, 4937, 102], [101, 102]]})
    assert st == 200
    d = json.loads(body)
    assert len(d["data"]) == 2 and d["usage"]["prompt_tokens"] == 6
    st, _, one = server.request("POST", "/v1/embeddings", {"model": ENC, "input": "a cat"})
    assert np.max(np.abs(np.array(d["data"][0]["embedding"]) - np.array(json.loads(one)["data"][0]["embedding"]))) <= 1e-6
    st, _, body = server.request("POST", "/v1/embeddings", {"model": ENC, "input": [101, 1037, 4937, 102]})
    assert st == 200 and len(json.loads(body)["data"]) == 1


@pytest.mark.parametrize("body,status,param", [
    ({"model": ENC, "input": ""}, 400, "input"),
    ({"model": ENC, "input": []}, 400, "input"),
    ({"model": ENC, "input": ["ok", ""]}, 400, "input[1]"),
    ({"model": ENC, "input": ["ok", 3]}, 400, "input[1]"),
    ({"model": ENC, "input": {"text": "x"}}, 400, "input"),
    ({"model": ENC, "input": 42}, 400, "input"),
    ({"model": ENC}, 400, "input"),
    ({"model": ENC, "input": [[101, 102], []]}, 400, "input[1]"),
    ({"model": ENC, "input": [101, 10 ** 7]}, 400, "input"),
    ({"model": ENC, "input": [101, -1]}, 400, "input"),
    ({"model": ENC, "input": [1.5]}, 400, "input"),
    ({"model": ENC, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
    ({"model": ENC, "input": "x", "dimensions": 128}, 400, "dimensions"),
    ({"model": "no-such-model", "input": "x"}, 404, "model"),
    ({"model": 7, "input": "x"}, 400, "model"),
    ({"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "input": "x"}, 400, "model"),
    ({"model": ENC, "input": ["x"] * 65}, 413, "input"),
])
def test_bad_input(server, body, status, param):
    import json
    st, _, out = server.request("POST", "/v1/embeddings", body)
    assert st == status, out
    e = json.loads(out)["error"]
    assert e["param"] == param and e["message"] and e["type"] == "invalid_request_error"


def test_bad_input_through_the_client(client):
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=ENC, input="")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


def test_invalid_json_and_utf8(server):
    st, _, _ = server.request("POST", "/v1/embeddings", b"{not json")
    assert st == 400
    st, _, out = server.request("POST", "/v1/embeddings", b'{"model": "all-minilm-l6-v2", "input": "\xff\xfe ok"}',
                                headers={"Content-Type": "application/json"})
    assert st in (200, 400), out


def test_chat_beside_embeddings(client, server):
    """a chat reply with a seed is the same while embedding requests run beside it; the embedding model is not
    a chat model"""
    import concurrent.futures as cf
    msgs = [{"role": "user", "content": "Name a color."}]
    alone = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1.gguf", messages=msgs, max_tokens=12, seed=3)
    with cf.ThreadPoolExecutor(4) as ex:
        embs = [ex.submit(client.embeddings.create, model=ENC, input=TEXTS) for _ in range(3)]
        beside = ex.submit(client.chat.completions.create, model="SmolLM2-135M-Instruct.Q4_1.gguf", messages=msgs,
                           max_tokens=12, seed=3)
        assert all(len(f.result().data) == len(TEXTS) for f in embs)
        assert beside.result().choices[0].message.content == alone.choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=ENC, messages=msgs, max_tokens=4)


def test_embeddings_only_server(reference):
    s = Server("--embed-model", MINILM, "-t", "2", model=False)
    try:
        c = openai.OpenAI(base_url=s.url + "v1", api_key="unused", max_retries=0, timeout=300)
        assert [m.id for m in c.models.list().data] == [ENC]
        r = c.embeddings.create(model=ENC, input=TEXTS[:2])
        assert np.max(np.abs(np.array([d.embedding for d in r.data]) - reference[:2])) <= 1e-6
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model=ENC, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        st, _, _ = s.request("GET", "/health")
        assert st == 200
    finally:
        s.stop()
