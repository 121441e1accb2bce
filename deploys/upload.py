"""Upload one rendered file with the owner and mode the model gives it."""

from io import StringIO

from pyinfra.operations import files

from aitbc_infra.render import RenderedFile


def put_rendered(f: RenderedFile):
    return files.put(
        name=f"Upload {f.path}",
        src=StringIO(f.content),
        dest=f.path,
        user=f.owner,
        group=f.group,
        mode=f.mode,
    )
