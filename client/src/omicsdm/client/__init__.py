"""A typed async client of the omicsdm API, with multipart uploads through the service's signer and
parallel, resumable, verified downloads. The `omicsdm` command is built on it (cli/client_commands.py)."""

from omicsdm.client.api import ApiClient
from omicsdm.client.config import ClientConfig, load_config
from omicsdm.client.errors import ClientError, ExitCode
from omicsdm.client.transfer import Downloader, Uploader

__all__ = ["ApiClient", "ClientConfig", "ClientError", "Downloader", "ExitCode", "Uploader", "load_config"]
