-- A workspace's notification webhook (issue 23): a URL taking a JSON POST (Slack's incoming
-- webhooks, or any receiver), told when decisions wait for a person and when a video is ready.
-- Its path is a secret (Slack's carries the token): it is never logged whole, only its host.
CREATE TABLE workspace_notifications (
    workspace_id  bigint PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    webhook_url   text NOT NULL
                  CHECK (webhook_url ~ '^https?://[^/\s]+' AND length(webhook_url) <= 2048),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
