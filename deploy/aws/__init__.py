"""The AWS deployment as a CDK app (`make synth`; `npx cdk deploy` from this folder)."""
