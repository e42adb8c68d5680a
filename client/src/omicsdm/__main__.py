from omicsdm.cli.main import app

app(prog_name="omicsdm")
