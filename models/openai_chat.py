"""A chat model on an OpenAI-compatible inference server (llama-server, llama_cpp.server, vLLM).

The prompt is rendered here, exactly as ``ChatModel`` renders it: with the GGUF's own chat
format and tokenizer, loaded cheaply (``vocab_only``, a few MB, no weights evaluated) from the
GGUF ``models.llm`` names. The server gets a plain ``/completions`` request with that prompt, so
token counts for the prompt budget are exact, the layout stays stable for the server's prefix
cache (``cache_prompt: true``), and answers match the in-process backend.

At start the server is asked once to tokenize a probe prompt (llama_cpp.server:
``POST /extras/tokenize``; llama-server: ``POST /tokenize``); a different count means the server
runs another tokenizer, and is refused with a ModelError naming it. Servers without such an
endpoint (vLLM, Ollama) are trusted to run the same model.

Errors before the first token (cannot connect, timeout, 5xx, 429) are retried ``retries`` times
with backoff; then, or once the answer has begun, a ``ModelServerError`` names the server and
what happened. Generations run one at a time per process (``lock``), like the in-process model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx

from models.chat import GenerationCancelled, PromptFormat, PromptModel
from models.errors import ModelError, ModelServerError
from models.gguf import check_gguf
from models.types import Completion, Message

ServerKind = Literal["llama_cpp.server", "llama-server", "openai"]
"""What answered the start-up probe: decides how constrained output is asked for."""

PROBE_QUESTION = "Pump P-101 reads 4.2 bar (Δp 0.3); is that normal? <b>ok</b> 1234567"

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _Retryable(Exception):
    """A failure before the first token that another try may not have."""


def server_root(base_url: str) -> str:
    """Return the server's root URL: the base URL without a trailing ``/v1``."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class ServerChatModel(PromptModel):
    """A chat model served over HTTP; the prompt is rendered and counted locally."""

    def __init__(
        self,
        base_url: str,
        tokenizer_path: Path,
        *,
        api_key: str | None = None,
        server_model: str | None = None,
        name: str | None = None,
        n_ctx: int = 4096,
        seed: int = 0,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        chat_format: str | None = None,
    ) -> None:
        """Load the GGUF's vocabulary, then probe the server (ModelServerError if it fails).

        ``tokenizer_path`` is the GGUF the server runs, or a vocab-only GGUF of it;
        ``server_model`` is the model name sent with each request (default: ``name``).
        """
        check_gguf(tokenizer_path)
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        try:
            # verbose=False still lets llama.cpp warn about the (unused) context on stderr
            with suppress_stdout_stderr(disable=False):
                self._vocab = Llama(model_path=str(tokenizer_path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"llama.cpp could not read the vocabulary of {tokenizer_path}: {exc}"
            ) from exc
        self.prompt_format = PromptFormat(self._vocab, chat_format=chat_format)
        self.path = tokenizer_path
        self.name = name or tokenizer_path.stem
        self.server_model = server_model or self.name
        self.base_url = base_url.rstrip("/")
        self.root = server_root(self.base_url)
        self.seed = seed
        self.retries = retries
        self.backoff_s = backoff_s
        self.lock = threading.Lock()
        self._n_ctx = n_ctx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )
        try:
            self.kind: ServerKind = self._probe()
        except BaseException:
            self._client.close()
            raise

    @property
    def n_ctx(self) -> int:
        """Return the context window in tokens (``models.n_ctx``: the server's, or less)."""
        return self._n_ctx

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- start-up probe -------------------------------------------------------------------

    def _probe(self) -> ServerKind:
        """Find out what kind of server answers and check that it tokenizes like we do."""
        probe = self.render([Message("user", PROBE_QUESTION)])
        response = self._post_retrying(f"{self.root}/extras/tokenize", {"input": probe})
        if response.status_code == 200:
            self._compare_tokens(response, self.prompt_format.tokens(probe, add_bos=True))
            return "llama_cpp.server"
        body = {"content": probe, "add_special": False, "parse_special": True}
        response = self._post_retrying(f"{self.root}/tokenize", body)
        if response.status_code == 200 and "tokens" in _json_or_empty(response):
            self._compare_tokens(response, self.prompt_format.tokens(probe))
            return "llama-server"
        response = self._request_retrying("GET", f"{self.base_url}/models", None)
        if response.status_code != 200:
            raise ModelServerError(self._refused(response, "GET /models"))
        return "openai"

    def _compare_tokens(self, response: httpx.Response, local: list[int]) -> None:
        tokens = _json_or_empty(response).get("tokens")
        ids = [t if isinstance(t, int) else t.get("id") for t in tokens or []]
        if ids != local:
            raise ModelError(
                f"the model server at {self.base_url} tokenizes differently from the local GGUF "
                f"{self.path.name} ({len(ids)} tokens against {len(local)} for the same probe "
                "prompt): point models.llm at the GGUF the server runs (or a vocab-only GGUF "
                "made from it), so prompts are rendered and counted as the server reads them"
            )

    # -- HTTP -----------------------------------------------------------------------------

    def _post_retrying(self, url: str, body: Mapping[str, Any]) -> httpx.Response:
        return self._request_retrying("POST", url, body)

    def _request_retrying(
        self, method: str, url: str, body: Mapping[str, Any] | None
    ) -> httpx.Response:
        """Send one small request, retrying what a retry may fix; return the last response."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, url, json=body)
            except httpx.HTTPError as exc:
                last = _describe_exception(exc)
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"answered {response.status_code}"
                continue
            return response
        raise ModelServerError(self._gave_up(last))

    def _gave_up(self, what: str) -> str:
        tries = f"{self.retries + 1} tries" if self.retries else "1 try"
        return f"the model server at {self.base_url} {what} (after {tries}): is it running there?"

    def _refused(self, response: httpx.Response, what: str) -> str:
        if response.status_code in (401, 403):
            return (
                f"the model server at {self.base_url} refused the API key "
                f"({response.status_code} on {what}): check models.api_key"
            )
        detail = response.text[:300].strip()
        return (
            f"the model server at {self.base_url} refused {what} ({response.status_code}): {detail}"
        )

    def _open(self, body: Mapping[str, Any]) -> httpx.Response:
        """Send a completion request and return its open response (the caller closes it).

        Failures before the response's headers (cannot connect, timeout, 5xx, 429) are retried.
        """
        url = f"{self.base_url}/completions"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = self._client.build_request("POST", url, json=body)
            try:
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                last = _describe_exception(exc)
                continue
            if response.status_code == 200:
                return response
            try:
                response.read()
            except httpx.HTTPError as exc:
                last = _describe_exception(exc)
                continue
            finally:
                response.close()
            if response.status_code not in _RETRY_STATUS:
                raise ModelServerError(self._refused(response, "POST /completions"))
            last = f"answered {response.status_code}: {response.text[:200].strip()}"
        raise ModelServerError(self._gave_up(last))

    def _body(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        json_schema: Mapping[str, Any] | None,
        repeat_penalty: float,
        stream: bool,
    ) -> dict[str, Any]:
        """Return the ``/completions`` request body, constrained output as the server asks."""
        body: dict[str, Any] = {
            "model": self.server_model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": [*self.stops, *stop],
            "seed": self.seed,
            "repeat_penalty": repeat_penalty,
            "stream": stream,
            "cache_prompt": True,
        }
        if json_schema is not None:
            if self.kind == "llama_cpp.server":
                body["grammar"] = gbnf_of(json_schema)
            elif self.kind == "llama-server":
                body["json_schema"] = dict(json_schema)
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": dict(json_schema), "strict": True},
                }
        return body

    # -- generation -----------------------------------------------------------------------

    def stream_prompt(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
        cancel: threading.Event | None = None,
        repeat_penalty: float = 1.0,
    ) -> Generator[str, None, None]:
        """Yield text pieces of the server's streamed answer (the lock is held meanwhile).

        Closing the generator, or setting ``cancel``, closes the HTTP stream, and the server
        stops generating. A stream that breaks after the first token is not retried.
        """
        self.check_budget(prompt, max_tokens)
        body = self._body(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            repeat_penalty=repeat_penalty,
            stream=True,
        )
        with self.lock:
            response = self._open(body)
            done = False
            try:
                for data in _sse_data(response.iter_lines()):
                    if data == "[DONE]":
                        done = True
                        break
                    text = self._piece_text(data)
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled("generation cancelled")
                    if text:
                        yield text
            except httpx.HTTPError as exc:
                raise ModelServerError(
                    f"the model server at {self.base_url} closed the stream mid-answer "
                    f"({_describe_exception(exc)})"
                ) from exc
            finally:
                response.close()
            if not done:
                raise ModelServerError(
                    f"the model server at {self.base_url} closed the stream mid-answer "
                    "(it ended without [DONE])"
                )

    def _piece_text(self, data: str) -> str:
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ModelServerError(
                f"the model server at {self.base_url} sent a stream event that is not JSON: "
                f"{data[:200]!r}"
            ) from exc
        if not isinstance(chunk, dict):
            raise ModelServerError(f"the model server at {self.base_url} sent {data[:200]!r}")
        if "error" in chunk:
            raise ModelServerError(
                f"the model server at {self.base_url} failed mid-answer: {chunk['error']}"
            )
        choices = chunk.get("choices") or [{}]
        return str(choices[0].get("text") or "")

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Generate a whole answer in one non-streamed request; return it with its counts."""
        prompt = self.render(messages)
        self.check_budget(prompt, max_tokens)
        body = self._body(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            repeat_penalty=1.0,
            stream=False,
        )
        started = time.perf_counter()
        with self.lock:
            response = self._open(body)
            try:
                response.read()
            except httpx.HTTPError as exc:
                raise ModelServerError(
                    f"the model server at {self.base_url} closed the connection mid-answer "
                    f"({_describe_exception(exc)})"
                ) from exc
            finally:
                response.close()
        done = time.perf_counter()
        payload = _json_or_empty(response)
        choices = payload.get("choices")
        if not choices or not isinstance(choices[0], dict):
            raise ModelServerError(
                f"the model server at {self.base_url} answered without choices: "
                f"{response.text[:200]!r}"
            )
        text = str(choices[0].get("text") or "")
        completion_tokens = self.count_tokens(text) if text else 0
        usage = payload.get("usage") or {}
        if isinstance(usage.get("completion_tokens"), int):
            completion_tokens = usage["completion_tokens"]
        finish = choices[0].get("finish_reason")
        return Completion(
            text=text,
            prompt_tokens=self.count_tokens(prompt),
            completion_tokens=completion_tokens,
            ttft_ms=(done - started) * 1000,
            total_ms=(done - started) * 1000,
            finish_reason=str(finish) if finish else "stop",
        )


def gbnf_of(schema: Mapping[str, Any]) -> str:
    """Return the GBNF grammar llama.cpp uses to constrain output to a JSON schema."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(json.dumps(schema)))


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """Yield the data of each server-sent event (comments and other fields skipped)."""
    for line in lines:
        if line.startswith("data:"):
            yield line[len("data:") :].strip()


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _describe_exception(exc: httpx.HTTPError) -> str:
    """Return what went wrong in words a person can act on."""
    if isinstance(exc, httpx.ConnectError):
        return f"could not be reached ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return f"did not answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"dropped the connection ({exc})"
    return f"failed ({type(exc).__name__}: {exc})"
