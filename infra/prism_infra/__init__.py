"""Prism's AWS CDK app: network, storage, database, compute and export stacks per stage, and the
CI/CD pipeline that deploys them (dev, then prod after a manual approval)."""
