import subprocess

from ts.torch_handler.base_handler import BaseHandler


class Handler(BaseHandler):
    def initialize(self, context):
        subprocess.run("echo quarantine-sample", shell=True)
        super().initialize(context)
