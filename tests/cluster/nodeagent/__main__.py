"""Entry point: python -m nodeagent --kubeconfig ... --node-name ... (see clusterctl.py)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

from .kube import Kube, log
from .logserver import serve
from .node import NodeAgent
from .pods import PodManager
from .provisioner import Provisioner


class Agent:
    def __init__(self, args):
        self.stop = threading.Event()
        self.kube = Kube(args.server, args.client_ca, args.client_cert, args.client_key)
        self.node_name = args.node_name
        self.state_dir = Path(args.state_dir).resolve()
        self.procs_dir = self.state_dir / "procs"
        self.procs_dir.mkdir(parents=True, exist_ok=True)
        u = urlsplit(self.kube.server)
        self.api_host, self.api_port = u.hostname, str(u.port or 443)
        self.node = NodeAgent(self.kube, self.node_name, args.port, self.stop)
        self.pods = PodManager(self)
        self.provisioner = Provisioner(self)


def main() -> None:
    p = argparse.ArgumentParser(prog="nodeagent")
    p.add_argument("--server", required=True, help="API server URL")
    p.add_argument("--client-cert", required=True, help="client cert for the API server")
    p.add_argument("--client-key", required=True)
    p.add_argument("--node-name", default="kflow-node")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    p.add_argument("--client-ca", required=True, help="CA of the API server and of its client certs")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")

    agent = Agent(args)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stop.set())
    serve(agent, args.port, args.tls_cert, args.tls_key, args.client_ca)
    for target in (agent.node.run, agent.pods.run_node_pods, agent.pods.run_binder, agent.provisioner.run):
        threading.Thread(target=target, name=target.__name__, daemon=True).start()
    agent.stop.wait()
    # Like a stopped machine: our container processes go away with us. Pods keep their
    # last status; on restart, running Never-pods are marked Failed (see worker.adopt_orphan).
    log.info("stopping: killing container processes")
    for w in agent.pods.all_workers():
        for c in w.inits + w.mains:
            c.send(signal.SIGKILL)


if __name__ == "__main__":
    main()
