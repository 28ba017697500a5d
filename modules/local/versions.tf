# The local cloud needs no provider at all: nodes are processes started by terraform_data
# provisioners, so `terraform init` downloads nothing.
terraform {
  required_version = ">= 1.5.0"
}
