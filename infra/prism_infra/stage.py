"""One deployable stage (dev or prod): the media account's stacks and the product account's."""

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from prism_infra.compute import ComputeStack
from prism_infra.config import StageConfig
from prism_infra.database import DatabaseStack
from prism_infra.export import ExportStack
from prism_infra.network import NetworkStack
from prism_infra.storage import StorageStack


class PrismStage(Stage):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        media = Environment(account=config.media_account, region=config.region)
        product = Environment(account=config.product_account, region=config.region)
        self.network = NetworkStack(self, "Network", config=config, env=media)
        self.storage = StorageStack(self, "Storage", config=config, env=media)
        self.database = DatabaseStack(self, "Database", config=config, network=self.network, env=media)
        self.compute = ComputeStack(self, "Compute", config=config, network=self.network, storage=self.storage,
                                    database=self.database, env=media)
        self.export = ExportStack(self, "Export", config=config, env=product)
        # The export bucket's policy names the export-writer role: the role must exist first.
        self.export.add_stack_dependency(self.compute)
        Tags.of(self).add("project", "prism")
        Tags.of(self).add("stage", config.name)
