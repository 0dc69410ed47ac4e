"""Upload a built dataset folder to the Hugging Face Hub (explicit, optional network use)."""

from __future__ import annotations

from pathlib import Path

from medforget_data.dataset.manifest import read_manifest
from medforget_data.dataset.sources import get_source
from medforget_data.errors import MedForgetError


def check_source_push_allowed(source_name: str, private: bool, allow_restricted: bool) -> None:
    """Refuse pushes the source's licence does not permit (design §4, §11).

    The licence comes from the source's own definition, never from a built folder's manifest:
    an edited `public_push_allowed: true` must not open a public push of restricted data.
    """
    source = get_source(source_name)
    if source.public_push_allowed:
        return
    if not private:
        raise MedForgetError(
            f"refusing to push {source.name} data ({source.licence}) to a public repository; "
            "use --private with --allow-restricted for a private repo you control"
        )
    if not allow_restricted:
        raise MedForgetError(
            f"{source.name} data is under {source.licence}: pushing it even privately needs "
            "--allow-restricted"
        )


def check_push_allowed(dataset_dir: Path, private: bool, allow_restricted: bool) -> None:
    """The folder's source, re-derived from its build config, decides (see check_source_push_allowed)."""
    manifest = read_manifest(dataset_dir)
    source = get_source(manifest.build.source)
    if manifest.licence != source.licence or manifest.public_push_allowed != source.public_push_allowed:
        raise MedForgetError(
            f"{dataset_dir}: the manifest's licence fields differ from source {source.name}'s; "
            "refusing to push an edited build"
        )
    check_source_push_allowed(manifest.build.source, private, allow_restricted)


def push_dataset_folder(
    dataset_dir: Path,
    repo_id: str,
    private: bool = False,
    allow_restricted: bool = False,
    token: str | None = None,
) -> str:
    """Create (or reuse) the dataset repo and upload the folder; returns the repo URL."""
    check_push_allowed(dataset_dir, private, allow_restricted)
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise MedForgetError("no Hugging Face token: run `hf auth login` or set HF_TOKEN to push")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(dataset_dir),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Upload MedForget build",
        )
    except Exception as error:  # network, auth or Hub errors: one line, never a traceback
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MedForgetError(
            f"could not push to the Hugging Face Hub ({type(error).__name__}): {message}"
        ) from None
    return str(url)
