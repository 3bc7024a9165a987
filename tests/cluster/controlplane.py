"""Command lines of the control-plane components (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler); clusterctl.py starts them, nodectl.py has the node's."""

from __future__ import annotations

from pathlib import Path

from nodectl import NODE_IP


def argv_for(name: str, st: dict, state: Path) -> list[str]:
    pki = state / "pki"
    b, p = Path(st["bin"]), st["ports"]
    if name == "etcd":
        client, peer = f"http://127.0.0.1:{p['etcd']}", f"http://127.0.0.1:{p['etcd_peer']}"
        return [str(b / "etcd"), "--name=kflow", f"--data-dir={state / 'etcd'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=kflow={peer}", "--unsafe-no-fsync=true",
                "--log-level=warn"]
    if name == "kube-apiserver":
        return [
            str(b / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
            # On the node's address: pods reach it (through the `kubernetes` Service and kube-proxy).
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}",
            f"--secure-port={p['apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-client-ca-file={pki / 'ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,"
            "NodeRestriction,DefaultStorageClass,DefaultTolerationSeconds,StorageObjectInUseProtection,"
            "TaintNodesByCondition,Priority,ResourceQuota,MutatingAdmissionWebhook,"
            "ValidatingAdmissionWebhook,ValidatingAdmissionPolicy",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            # Logs/exec: the API server calls the kubelet with this client cert and verifies the
            # kubelet's serving cert against our CA.
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            # Requests of ServiceAccounts (manifests/audit-policy.yaml): bench/throughput.py counts from it.
            f"--audit-policy-file={Path(__file__).parent / 'manifests' / 'audit-policy.yaml'}",
            f"--audit-log-path={state / 'logs' / 'audit.log'}", "--audit-log-format=json",
            "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
        ]
    if name == "kube-controller-manager":
        kc = str(state / "kubeconfig")
        return [
            str(b / "kube-controller-manager"),
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", f"--secure-port={p['kcm']}",
            "--leader-elect=false",
            # Default set: garbage collector, namespace, serviceaccount(-token), PV binder and
            # protection, node lifecycle, root CA publisher, jobs, ...
            "--controllers=*",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            # Notice a dead kubelet within ~20 s (it renews its Lease every 2.5 s).
            "--node-monitor-period=2s", "--node-monitor-grace-period=20s",
            "--pvclaimbinder-sync-period=2s",
            "--profiling=false",
        ]
    if name == "kube-scheduler":
        kc = str(state / "kubeconfig")
        # Built with the node (build-node.sh), so adding it kept the control-plane cache key.
        return [str(Path(st["node_bin"]) / "kube-scheduler"), f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1", f"--secure-port={p['scheduler']}",
                "--leader-elect=false", "--profiling=false"]
    raise KeyError(name)
