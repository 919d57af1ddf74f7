# The settings every apply of the "production" environment uses, by hand or from
# cloudbuild.yaml (_ENV=production). project_id, region and api_image are given on the
# command line. Set alert_email before the first apply: an empty one leaves alerts unsent.
profile     = "production"
alert_email = ""
