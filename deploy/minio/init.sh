#!/bin/sh
# One-shot MinIO set-up for omicsdm (the `minio-init` service in compose.yaml; idempotent).
#
# Runs with the MinIO root key, so that the service itself never needs it:
#   1. the bucket, with versioning on (a second net under "versions never overwrite");
#   2. an IAM policy and user for the service that can read, write and run multipart uploads but
#      can delete nothing and cannot change the bucket's versioning, policy or lifecycle.
#
# Why a user policy and not only the service's deny-delete bucket policy: MinIO applies bucket
# policies to anonymous requests only, so on MinIO the key's own IAM policy is what forbids
# deletion. The service therefore runs with OMICSDM_S3__CONFIGURE_BUCKET=false against MinIO:
# this script did the set-up, and the service's key is not allowed to redo it.
#
# Environment: MINIO_URL, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, OMICSDM_BUCKET,
#              SERVICE_ACCESS_KEY, SERVICE_SECRET_KEY.
set -eu

: "${MINIO_URL:?}" "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${OMICSDM_BUCKET:?}" "${SERVICE_ACCESS_KEY:?}" "${SERVICE_SECRET_KEY:?}"
POLICY=omicsdm-service

mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$OMICSDM_BUCKET"
mc version enable "local/$OMICSDM_BUCKET"

# Every statement names both the bucket and its objects: MinIO refuses a statement whose actions
# have no resource of their kind (bucket-level vs object-level).
cat >/tmp/omicsdm-service-policy.json <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "OmicsdmReadWriteMultipart",
      "Effect": "Allow",
      "Action": [
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload"
      ],
      "Resource": ["arn:aws:s3:::$OMICSDM_BUCKET", "arn:aws:s3:::$OMICSDM_BUCKET/*"]
    },
    {
      "Sid": "OmicsdmNeverDeletes",
      "Effect": "Deny",
      "Action": [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:DeleteBucket",
        "s3:PutBucketVersioning",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutLifecycleConfiguration"
      ],
      "Resource": ["arn:aws:s3:::$OMICSDM_BUCKET", "arn:aws:s3:::$OMICSDM_BUCKET/*"]
    }
  ]
}
EOF
mc admin policy create local "$POLICY" /tmp/omicsdm-service-policy.json

# `user add` on an existing user only resets its secret, so this also rotates it.
mc admin user add local "$SERVICE_ACCESS_KEY" "$SERVICE_SECRET_KEY"
if ! out=$(mc admin policy attach local "$POLICY" --user "$SERVICE_ACCESS_KEY" 2>&1); then
  case "$out" in
    *"already in effect"*) ;;
    *) echo "$out" >&2; exit 1 ;;
  esac
fi
echo "minio-init: bucket '$OMICSDM_BUCKET' (versioned) and user '$SERVICE_ACCESS_KEY' (policy $POLICY) are ready"
