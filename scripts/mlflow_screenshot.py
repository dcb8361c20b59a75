"""Take the README's MLflow screenshot (run by scripts/mlflow-screenshot.sh).

Starts a local ``mlflow server``, logs a 4-trial torch fit to it (one trial fails on purpose,
so every status shows), then has headless Chromium render the experiment's runs page.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def small_model(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 3))


def sgd(model, config):
    import torch

    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)


#: Run on the rendered page: expand every parent run (the run-name cell's button) and close
#: MLflow's assistant side panel.
EXPAND = """
(() => {
  for (const b of document.querySelectorAll('button[data-component-id*="runnamecellrenderer"]'))
    b.click();
  const close = document.querySelector('button[aria-label="Close"]');
  if (close) close.click();
  return document.querySelectorAll('a[href*="/runs/"]').length;
})()
"""


async def screenshot(url: str, out: str, width: int = 1400, height: int = 620) -> None:
    """Chromium over the DevTools protocol: open ``url``, expand the runs, save a PNG."""
    import aiohttp

    with tempfile.TemporaryDirectory(prefix="zoo_tune_chromium_") as profile:
        browser = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size={width},{height}", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            for _ in range(300):
                if port_file.exists() and port_file.read_text().strip():
                    break
                await asyncio.sleep(0.1)
            port = port_file.read_text().split()[0]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
                    page = next(t for t in await answer.json() if t["type"] == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"],
                                           max_msg_size=0) as ws:
                    ids = iter(range(1, 1000))

                    async def call(method: str, **params: object) -> dict:
                        number = next(ids)
                        await ws.send_json({"id": number, "method": method, "params": params})
                        while True:
                            message = await ws.receive_json()
                            if message.get("id") == number:
                                return message.get("result", {})

                    await call("Page.enable")
                    await call("Page.navigate", url=url)
                    await asyncio.sleep(8)  # the UI loads, then fetches the runs
                    await call("Runtime.evaluate", expression=EXPAND)
                    await asyncio.sleep(3)
                    shot = await call("Page.captureScreenshot", format="png")
            Path(out).write_bytes(base64.b64decode(shot["data"]))
        finally:
            browser.terminate()
            browser.wait(timeout=30)


def main(out: str) -> int:
    from zoo_tune import AutoEstimator, hp, init_context, stop_context
    from zoo_tune.tracking import MlflowServer

    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(0)
    centers = np.eye(3, 4) * 2.0
    y = rng.integers(0, 3, size=400)
    x = (centers[y] + rng.normal(scale=0.6, size=(400, 4))).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="zoo_tune_screenshot_") as folder:
        server = MlflowServer(Path(folder) / "mlflow").start()
        try:
            init_context(cluster_mode="local", cores=2)
            est = AutoEstimator.from_torch(model_creator=small_model, optimizer=sgd,
                                           loss="CrossEntropyLoss",
                                           logs_dir=str(Path(folder) / "logs"),
                                           name="digits_demo")
            est.fit((x[:320], y[:320]), validation_data=(x[320:], y[320:]), epochs=3,
                    metric="accuracy", verbose=0, mlflow_uri=server.uri,
                    mlflow_experiment="zoo_tune demo",
                    search_space={"lr": hp.grid_search([0.01, 0.05, 0.2, -1.0]),
                                  "hidden": 8})
            stop_context()
            from mlflow.tracking import MlflowClient

            exp = MlflowClient(server.uri).get_experiment_by_name("zoo_tune demo")
            url = f"{server.uri}/#/experiments/{exp.experiment_id}/runs"
            asyncio.run(screenshot(url, out))
        finally:
            server.stop()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/mlflow_runs.png"))
