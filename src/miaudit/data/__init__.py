"""Data sets, their loaders and registry, and membership splits."""

from miaudit.data.dataset import Dataset
from miaudit.data.loaders import (
    DATASETS,
    DatasetInfo,
    list_datasets,
    load_dataset,
    resolve_data_dir,
)
from miaudit.data.split import MembershipSplit, make_split

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "MembershipSplit",
    "list_datasets",
    "load_dataset",
    "make_split",
    "resolve_data_dir",
]
