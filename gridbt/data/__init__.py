"""Option-chain data: canonical schema, adapters, validation, storage, synthesis, packing."""

from gridbt.data.errors import DataError, ValidationError
from gridbt.data.pack import PackedChain, pack_chain
from gridbt.data.schema import CHAIN_SCHEMA, SCHEMA_VERSION
from gridbt.data.store import read_chain, read_manifest, write_chain
from gridbt.data.validate import ValidationConfig, validate

__all__ = [
    "CHAIN_SCHEMA", "SCHEMA_VERSION", "DataError", "PackedChain", "ValidationConfig",
    "ValidationError", "pack_chain", "read_chain", "read_manifest", "validate", "write_chain",
]
