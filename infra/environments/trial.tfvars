# The settings every apply of the "trial" environment uses, by hand or from cloudbuild.yaml
# (_ENV=trial). project_id, region and api_image are given on the command line.
profile     = "small"
alert_email = ""
