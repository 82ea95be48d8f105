from healthanalytics.cli import app

app(prog_name="healthanalytics")
