"""http.Request, the incoming-webhook notifications and MailSend against real loopback servers."""

from __future__ import annotations

import base64
import json

from fixtures.loopback import HttpServer, Received, SmtpServer, json_reply
from kflow.engine.state import State


def _echo(got: Received):
    doc = {"method": got.method, "path": got.path, "headers": got.headers, "body": got.body.decode()}
    return 201, {"Content-Type": "application/json", "X-Reply": "yes"}, json.dumps(doc).encode()


def test_request_json_body_headers_and_outputs(run_flow):
    with HttpServer(routes={"/items": _echo}) as srv:
        run = run_flow(f"""
            id: req
            namespace: demo.io
            tasks:
              - id: post
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/items?x=1
                method: POST
                contentType: application/json
                headers:
                  X-Trace: "{{{{ flow.id }}}}"
                body: '{{"name": "{{{{ flow.namespace }}}}", "n": 2}}'
              - id: use
                type: io.kestra.plugin.core.debug.Return
                format: "{{{{ outputs.post.code }}}} {{{{ (outputs.post.body | fromJson).headers['x-trace'] }}}}"
        """)
    assert run.state == State.SUCCESS, run.ex.error
    got = srv.received[0]
    assert (got.method, got.path) == ("POST", "/items?x=1")
    assert got.headers["x-trace"] == "req" and got.headers["content-type"] == "application/json"
    assert got.json() == {"name": "demo.io", "n": 2}
    out = run.outputs("post")
    assert out["code"] == 201 and out["headers"]["X-Reply"] == ["yes"]
    assert out["uri"] == f"{srv.base}/items?x=1"
    assert json.loads(out["body"])["method"] == "POST"
    assert run.outputs("use")["value"] == "201 req"


def test_request_404_fails_unless_allowed(run_flow):
    with HttpServer() as srv:
        failed = run_flow(f"""
            id: r404
            namespace: demo.io
            tasks:
              - id: get
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/missing
        """)
        allowed = run_flow(f"""
            id: r404ok
            namespace: demo.io
            tasks:
              - id: get
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/missing
                options:
                  allowFailed: true
              - id: old_spelling
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/missing
                allowFailed: true
        """)
    assert failed.state == State.FAILED
    assert "Failed http request with response code '404'" in (failed.run("get").error or "")
    assert allowed.state == State.SUCCESS
    assert allowed.outputs("get")["code"] == 404 and allowed.outputs("get")["body"] == "no such page"
    assert allowed.outputs("old_spelling")["code"] == 404


def test_request_form_basic_auth_and_secret_masked(run_flow):
    password = "s3cr3t-pass"
    with HttpServer(routes={"/login": _echo, "/fail": json_reply({"e": 1}, 500)}) as srv:
        run = run_flow(f"""
            id: auth
            namespace: demo.io
            tasks:
              - id: form
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/login
                method: PUT
                formData:
                  user: ann
                  n: 3
                options:
                  auth:
                    type: BASIC
                    username: ann
                    password: "{{{{ secret('API_PASSWORD') }}}}"
                  timeout:
                    readIdleTimeout: PT5S
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "password is {{{{ secret('API_PASSWORD') }}}}"
        """, env={"SECRET_API_PASSWORD": base64.b64encode(password.encode()).decode()})
    assert run.state == State.SUCCESS, run.ex.error
    got = srv.received[0]
    assert got.method == "PUT" and got.body == b"user=ann&n=3"
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert base64.b64decode(got.headers["authorization"].split()[1]).decode() == f"ann:{password}"
    assert all(password not in m for m in run.messages())
    assert any("password is" in m for m in run.messages("log"))


def test_request_read_timeout(run_flow):
    import time

    def slow(_got: Received):
        time.sleep(3)
        return 200, {}, b"late"

    with HttpServer(routes={"/slow": slow}) as srv:
        run = run_flow(f"""
            id: slow
            namespace: demo.io
            tasks:
              - id: get
                type: io.kestra.plugin.core.http.Request
                uri: {srv.base}/slow
                options:
                  readTimeout: PT0.5S
        """)
    assert run.state == State.FAILED
    assert "timed out" in (run.run("get").error or "")


def test_incoming_webhooks_post_json_and_hide_the_url(run_flow):
    hook = "/services/T000/B000/tokenXYZ"
    with HttpServer(routes={hook: lambda g: (200, {}, b"ok"), "/teams": lambda g: (200, {}, b"1"),
                            "/discord": lambda g: (204, {}, b""), "/chat": lambda g: (200, {}, b"{}")}) as srv:
        run = run_flow(f"""
            id: notify
            namespace: demo.io
            tasks:
              - id: slack_text
                type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
                url: "{srv.base}{hook}"
                messageText: "Flow {{{{ flow.id }}}} done"
              - id: slack_payload
                type: io.kestra.plugin.slack.notifications.SlackIncomingWebhook
                url: "{srv.base}{hook}"
                payload: |
                  {{"blocks": [{{"type": "section", "text": {{"type": "mrkdwn", "text": "*{{{{ execution.id }}}}*"}}}}]}}
              - id: discord
                type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
                url: "{srv.base}/discord"
                payload: '{{"content": "hi"}}'
              - id: teams
                type: io.kestra.plugin.notifications.teams.TeamsIncomingWebhook
                url: "{srv.base}/teams"
                payload: '{{"text": "hi"}}'
              - id: chat
                type: io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook
                url: "{srv.base}/chat"
                payload: '{{"text": "hi"}}'
              - id: broken
                type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
                url: "{srv.base}/services/T000/B000/wrongTOKEN"
                messageText: x
        """)
    assert run.state == State.FAILED
    bodies = [(g.path, g.json(), g.headers["content-type"]) for g in srv.received]
    assert bodies[0] == (hook, {"text": "Flow notify done"}, "application/json")
    assert bodies[1][1]["blocks"][0]["text"]["text"] == f"*{run.ex.id}*"
    assert [b[0] for b in bodies[2:5]] == ["/discord", "/teams", "/chat"]
    assert all(run.run(t).state == State.SUCCESS for t in ("slack_text", "discord", "teams", "chat"))
    error = run.run("broken").error or ""
    assert "404" in error and "wrongTOKEN" not in error and srv.base.split("//")[1] in error


def test_mail_send_over_smtp(run_flow, tmp_path):
    with SmtpServer() as smtp:
        run = run_flow(f"""
            id: mail
            namespace: demo.io
            tasks:
              - id: report
                type: io.kestra.plugin.core.storage.Write
                content: "a,b\\n1,2\\n"
                extension: .csv
              - id: send
                type: io.kestra.plugin.notifications.mail.MailSend
                host: {smtp.host}
                port: {smtp.port}
                from: kflow@example.com
                to: "ann@example.com, bob@example.com"
                cc: carl@example.com
                subject: "Report of {{{{ flow.id }}}}"
                htmlTextContent: "<b>{{{{ execution.id }}}}</b>"
                attachments:
                  - name: report.csv
                    uri: "{{{{ outputs.report.uri }}}}"
        """)
    assert run.state == State.SUCCESS, [tr.error for tr in run.ex.taskRuns]
    sender, rcpts = smtp.envelopes[0]
    assert sender == "kflow@example.com" and sorted(rcpts) == ["ann@example.com", "bob@example.com",
                                                                "carl@example.com"]
    msg = smtp.messages[0]
    assert msg["Subject"] == "Report of mail"
    html = msg.get_body(("html",)).get_content()
    assert f"<b>{run.ex.id}</b>" in html
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "report.csv" and att.get_content() == "a,b\n1,2\n"
