"""Routes for stored secrets: write, read, delete, list versions, rotate, schedule rotation. A secret path may contain '/'."""

from __future__ import annotations

from . import bodies
from .routing import Operation, Query

OPERATIONS = [
    # A secret's own path cannot end in rotate, rotation or versions (routing.SECRET_ACTIONS), so these
    # never shadow a secret and GET .../rotate answers 405.
    Operation("POST", "/v1/secrets/{path:any_path}/rotate",
              lambda api, c: api.rotate_secret(c.path["path"], reason=c.body.reason, grace_period=c.body.grace_period),
              "Rotate a secret (an engine's root credential)", "rotateSecret", body=bodies.Rotate, body_required=False,
              response="SecretVersion", errors=(404, 409, 502), tag="secrets",
              description="Needs `rotate` on the path; an engine's root credential also needs `rotate` for "
                          "`dynamic:<engine>` there (else `400 invalid_config` naming the missing grant). The answer "
                          "describes the new version, never its value."),
    Operation("PUT", "/v1/secrets/{path:any_path}/rotation",
              lambda api, c: api.set_rotation_period(c.path["path"], c.body.period, c.body.grace_period),
              "Rotate a secret on a schedule (or stop)", "setRotationPeriod", body=bodies.RotationPeriod,
              response="RotationPeriod", tag="secrets",
              description="Needs `rotate` on the path, and for an engine's root credential `rotate` for "
                          "`dynamic:<engine>` too, checked now rather than when the period comes round. `period` is a "
                          "duration such as `30d`; `null` or `0` stops scheduled rotation. The expiry worker of a "
                          "running server rotates it when due."),
    Operation("GET", "/v1/secrets/{path:any_path}/versions", lambda api, c: api.list_secret_versions(c.path["path"]),
              "List a secret's versions (never their values)", "listSecretVersions", response="SecretVersionList",
              errors=(404,), tag="secrets",
              description="Needs `read` on the path. Oldest first; a retired version's value is destroyed."),
    Operation("PUT", "/v1/secrets/{path:secret_path}",
              lambda api, c: api.put_secret(c.path["path"], c.body.data, c.body.secret_type),
              "Write a new version of a secret", "putSecret", body=bodies.SecretWrite, response="SecretVersion",
              errors=(413,), tag="secrets",
              description="Needs `create` on a new path, `update` on an existing one; a caller holding neither is "
                          "refused before anything is looked up. The value is not echoed."),
    Operation("GET", "/v1/secrets/{path:secret_path}", lambda api, c: api.get_secret(c.path["path"], c.query["version"]),
              "Read a secret (the newest version, or ?version=N)", "getSecret", response="SecretVersion",
              query=(Query("version", "A past version number.", type="integer", minimum=1, maximum=2**31),),
              errors=(404,), tag="secrets"),
    Operation("DELETE", "/v1/secrets/{path:secret_path}", lambda api, c: api.delete_secret(c.path["path"]),
              "Delete a secret and all its versions", "deleteSecret", status=204, errors=(404,), tag="secrets"),
]
