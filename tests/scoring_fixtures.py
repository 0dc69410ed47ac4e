"""Scoring test helpers: a hand-made dataset folder (pyarrow) and a scripted judge HTTP server.

The folder has the builder's layout (manifest.json + <config>/<split>-00000-of-00001.parquet) but
items written by hand, so every score of the golden tests can be computed by hand.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medforget_data.constants import REPORTED_SPLITS
from medforget_data.dataset.features import ITEM_COLUMNS, LIST_COLUMNS
from medforget_data.dataset.load import split_path
from medforget_data.dataset.manifest import MANIFEST_FILE, BuildConfig, Manifest

HAND_LEVEL = "patient"
HAND_HASH = "0123456789abcdef" * 4
OPTIONS = ["nodule", "cardiomegaly", "opacity", "no acute abnormality"]


def item(item_id: str, task: str, answer: str, fact: str, **extra: Any) -> dict[str, Any]:
    section = fact.split(".", 1)[1] if fact.startswith("section.") else None
    row = {
        "id": item_id,
        "question": "Patient: [blank]" if task == "cloze" else "What does the report say?",
        "answer": answer,
        "options": OPTIONS if task == "classification" else [],
        "task": task,
        "fact_level": fact.split(".", 1)[0],
        "fact": fact,
        "institution_id": "inst-0",
        "patient_id": "pat-0",
        "study_id": "study-0",
        "section": section,
        "variant": "rephrased" if "rephrased" in item_id else "original",
        "group_id": item_id,
        "train_questions": [],
        "image_answerable": False,
    }
    row.update(extra)
    return row


def cls(item_id: str) -> dict[str, Any]:
    return item(item_id, "classification", "B) cardiomegaly", "section.FINDINGS")


def name_cloze(item_id: str, **extra: Any) -> dict[str, Any]:
    return item(item_id, "cloze", "Monica Padilla", "patient.name", **extra)


# split -> [(row, prediction)]; the golden values in test_scoring_golden.py follow from these.
HAND_ITEMS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "forget": [
        (cls("f-cls"), "b) cardiomegaly"),
        (name_cloze("f-cloze"), "I don't know"),
        (
            item("f-gen", "generation", "Small left pleural effusion.", "section.FINDINGS"),
            "No pleural effusion.",
        ),
    ],
    "retain": [
        (cls("r-cls"), "Cardiomegaly."),
        (name_cloze("r-cloze"), "monica padilla"),
        (item("r-gen", "generation", "Monica Padilla", "patient.name"), "The patient is Monica Padilla."),
    ],
    "sibling": [(name_cloze("s-cloze-1"), "Monica Padilla"), (name_cloze("s-cloze-2"), "Mona Padilla")],
    "forget_rephrased": [(name_cloze("f-rephrased"), "Monica Padilla")],
    "retain_rephrased": [(name_cloze("r-rephrased"), "Monica Padilla")],
    "sibling_rephrased": [(name_cloze("s-rephrased"), "Monica Padilla")],
    "holdout": [
        (
            item("h-gen", "generation", "Cardiomegaly.", "section.IMPRESSION", image_answerable=True),
            "Cardiomegaly.",
        ),
        (name_cloze("h-cloze"), "someone else"),  # not image-answerable: left out of utility
    ],
}


def write_hand_dataset(folder: Path, items: dict[str, list[tuple[dict[str, Any], str]]] = HAND_ITEMS) -> Path:
    """The hand-made items as a dataset folder for level `patient`."""
    for split in REPORTED_SPLITS:
        rows = [row for row, _ in items[split]]
        columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in ITEM_COLUMNS}
        columns["image"] = [None] * len(rows)  # the scorer never reads images
        schema = pa.schema(
            [
                *(
                    pa.field(n, pa.list_(pa.string()) if n in LIST_COLUMNS else pa.string())
                    for n in ITEM_COLUMNS[:-1]
                ),
                pa.field("image_answerable", pa.bool_()),
                pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ]
        )
        path = split_path(folder, HAND_LEVEL, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns, schema=schema), path)
    manifest = Manifest(
        build=BuildConfig(source="synthetic", size="mini"),
        licence="test",
        public_push_allowed=False,
        counts={HAND_LEVEL: {split: len(items[split]) for split in REPORTED_SPLITS}},
        targets={},
        skipped_reports={},
        files={},
        dataset_hash=HAND_HASH,
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(), encoding="utf-8")
    return folder


def hand_predictions(items: dict[str, list[tuple[dict[str, Any], str]]] = HAND_ITEMS) -> dict[str, str]:
    return {row["id"]: prediction for pairs in items.values() for row, prediction in pairs}


def hand_answers(items: dict[str, list[tuple[dict[str, Any], str]]] = HAND_ITEMS) -> dict[str, str]:
    return {row["id"]: row["answer"] for pairs in items.values() for row, _ in pairs}


def chat_reply(content: str) -> tuple[int, str]:
    return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})


def verdict(score: object) -> tuple[int, str]:
    return chat_reply(json.dumps({"score": score}))


class ScriptedJudgeServer:
    """A real HTTP server on 127.0.0.1 answering /chat/completions from a script.

    `script` is a list of (status, body) or (status, body, headers), one per request; the last entry
    answers every request after the script runs out.
    """

    def __init__(self) -> None:
        self.script: list[tuple[Any, ...]] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.delay = 0.0  # seconds each answer takes
        self.in_flight = self.max_in_flight = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers["Content-Length"])
                with lock:
                    server.requests.append(json.loads(self.rfile.read(length)))
                    server.paths.append(self.path)
                    entry = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if server.delay:
                    time.sleep(server.delay)
                with lock:
                    server.in_flight -= 1
                status, body, headers = (*entry, {})[:3]
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
