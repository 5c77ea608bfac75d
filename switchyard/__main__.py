from switchyard.cli.main import app

app()
