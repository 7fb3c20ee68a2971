"""Images: upload, annotate, read, download, tag, search and delete, in a project
(`ImageViewSet`) or by id across the workspace (`WorkspaceImageViewSet`)."""

from django.http import FileResponse
from drf_spectacular.utils import (
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions

from core.responses import respond
from workspaces import search, services
from workspaces.actors import Actor
from workspaces.annotations import AnnotationError, parse_annotation
from workspaces.models import (
    CLASSIFICATION_TYPES,
    Image,
    Split,
)

from .base import (
    UPLOAD_ENCODING,
    ResourceViewSet,
    refuse_oversize,
)
from .serializers import (
    DEFAULT_SEARCH_FIELDS,
    AnnotateBody,
    AnnotatedResponse,
    AnnotateQuery,
    DeleteImagesBody,
    ImageMetadataBody,
    ImageMetadataResponse,
    ImageResponse,
    ImagesDeletedResponse,
    ImageSerializer,
    SearchBody,
    SearchResponse,
    TagsBody,
    UploadBody,
    UploadQuery,
    UploadResponse,
    WorkspaceImagesDeletedResponse,
    WorkspaceSearchBody,
    WorkspaceSearchResponse,
    parse,
    search_result,
)


class ImageViewSet(ResourceViewSet):
    required_scopes = {
        "upload": "image:create",
        "annotate": "image:annotate",
        "retrieve": "image:read",
        "file": "image:read",
        "search": "image:read",
        "tags": "image:tag",
        "bulk_destroy": "image:delete",
    }

    @extend_schema(
        operation_id="image_upload",
        summary="Upload an image",
        parameters=[UploadQuery],
        request={"multipart/form-data": OpenApiRequest(UploadBody, encoding=UPLOAD_ENCODING)},
        responses=UploadResponse,
    )
    def upload(self, request, project):
        """`POST /dataset/:project/upload`, as the SDK sends it: multipart `file`, `name`,
        `split` and `metadata` (a JSON string); query `batch` and repeated `tag`."""
        refuse_oversize(request)
        found = self.get_project(project)
        query = parse(UploadQuery, request.query_params)
        data = parse(UploadBody, request.data)
        image, created = services.image_create(
            project=found,
            data=data["file"].read(),
            name=data["name"],
            split=data.get("split", Split.TRAIN),
            tags=query.get("tag", []),
            metadata=data.get("metadata", {}),
            batch=query.get("batch", ""),
        )
        if not created:
            return respond(UploadResponse, {"duplicate": True, "id": str(image.pk)})
        return respond(UploadResponse, {"success": True, "id": str(image.pk)})

    @extend_schema(
        operation_id="image_annotate",
        summary="Save an image's annotation (COCO, Pascal VOC, YOLO or CreateML; a class name)",
        parameters=[AnnotateQuery],
        request=AnnotateBody,
        responses=AnnotatedResponse,
    )
    def annotate(self, request, project, image_id):
        """`POST /dataset/:project/annotate/:image_id`, as the SDK sends it: the file's text and
        labelmap in a JSON body, its name (whose extension says the format) in the query."""
        sent = self.body()  # a body of another media type is a 415 before anything else
        found = self.get_project(project)
        body = parse(AnnotateBody, sent)
        query = parse(AnnotateQuery, request.query_params)
        image = self.get_image(found.slug, image_id)
        try:
            annotation = parse_annotation(
                name=query["name"],
                text=body["annotationFile"],
                labelmap=body.get("labelmap"),
                image_name=image.name,
                width=image.width,
                height=image.height,
                classification=found.type in CLASSIFICATION_TYPES,
            )
        except AnnotationError as exc:
            raise exceptions.ValidationError({"annotationFile": [str(exc)]}) from None
        image = services.image_annotate(
            image=image,
            annotation=annotation,
            overwrite=query.get("overwrite", False),
            prediction=query.get("prediction", False),
            job=query.get("jobName", ""),
        )
        return respond(AnnotatedResponse, {"success": True, "id": str(image.pk), "annotation": image.annotation})

    @extend_schema(operation_id="image_get", summary="An image's details", responses=ImageResponse)
    def retrieve(self, request, ws, project, image_id):
        return respond(ImageResponse, {"image": self.get_image(project, image_id)})

    @extend_schema(
        operation_id="image_download",
        summary="Download an image's file",
        responses={(200, "image/*"): OpenApiResponse(description="The image's bytes.")},
    )
    def file(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        # Always an attachment of the verified image type, never what the uploader's name
        # suggests (a file named x.html would be a page of ours), and sandboxed besides.
        response = FileResponse(
            image.file.open("rb"), filename=image.name, as_attachment=True, content_type=image.media_type
        )
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    @extend_schema(
        operation_id="image_tags",
        summary="Add, remove or set an image's tags (and merge metadata)",
        request=TagsBody,
        responses=ImageResponse,
    )
    def tags(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        data = parse(TagsBody, self.body())
        tags = {
            "add": {"add_tags": data["tags"]},
            "remove": {"remove_tags": data["tags"]},
            "set": {"set_tags": data["tags"]},
        }
        image = services.image_update(image=image, metadata=data.get("metadata"), **tags[data["operation"]])
        return respond(ImageResponse, {"image": image})

    @extend_schema(
        operation_id="images_delete",
        summary="Delete images: all or none",
        request=DeleteImagesBody,
        responses={200: ImagesDeletedResponse},
    )
    def bulk_destroy(self, request, ws, project):
        found = self.get_project(project)
        ids = parse(DeleteImagesBody, self.body())["images"]
        images = list(Image.objects.filter(project=found, pk__in=ids))
        missing = sorted(set(ids) - {i.pk for i in images})
        if missing:  # all or nothing
            raise exceptions.NotFound(f"No image {', '.join(map(str, missing))} in this project.")
        deleted = services.images_delete(images=images, actor=Actor.from_request(request))
        return respond(ImagesDeletedResponse, {"deleted": [str(i) for i in deleted]})

    @extend_schema(
        operation_id="images_search",
        summary="Search a project's images",
        request=SearchBody,
        responses=SearchResponse,
    )
    def search(self, request, ws, project):
        """`project.search()`: the SDK's filters (`tag`, `class_name`, `batch_id`, `in_dataset`,
        `fields`) and ours (`split`, `name`). Whole images unless `fields` names some."""
        found = self.get_project(project)
        data = parse(SearchBody, self.body())
        images = Image.objects.filter(project=found).select_related("project__workspace")
        terms = [
            search.Term(key, data[field])
            for field, key in (("tag", "tag"), ("class_name", "class"), ("split", "split"), ("batch_id", "batch"))
            if data.get(field) is not None
        ]
        images = search.apply(images, terms)
        if "name" in data:
            images = images.filter(name__icontains=data["name"])
        if data.get("batch") or data.get("in_dataset") is False or data.get("mediaTypes") == ["video"]:
            images = images.none()  # every image here is in the dataset, none in a batch; no videos
        total = images.count()
        page = images[data["offset"] : data["offset"] + data["limit"]]
        fields = data.get("fields")
        results = ImageSerializer(page, many=True).data if fields is None else [search_result(i, fields) for i in page]
        return respond(
            SearchResponse, {"results": results, "total": total, "offset": data["offset"], "limit": data["limit"]}
        )


class WorkspaceImageViewSet(ResourceViewSet):
    """Images by id across the workspace (`roboflow image metadata`, `image delete`, `image
    search`): only those of projects the caller may reach; any other id is not there."""

    required_scopes = {"search": "image:read", "metadata": "image:tag", "bulk_destroy": "image:delete"}

    def reachable_images(self):
        return Image.objects.filter(project__in=self.projects()).select_related("project__workspace")

    @extend_schema(
        operation_id="workspace_search",
        summary="Search the workspace's images (`tag:night project:cats aisle`)",
        request=WorkspaceSearchBody,
        responses=WorkspaceSearchResponse,
    )
    def search(self, request, ws):
        data = parse(WorkspaceSearchBody, self.body())
        try:
            terms = search.parse_query(data["query"])
        except search.QueryError as exc:
            raise exceptions.ValidationError({"query": [str(exc)]}) from None
        images = search.apply(self.reachable_images(), terms)
        if data.get("mediaTypes") == ["video"]:
            images = images.none()  # no videos here
        offset = int(data.get("continuationToken") or 0)
        size = data["pageSize"]
        total = images.count()
        page = list(images[offset : offset + size])
        fields = data.get("fields", DEFAULT_SEARCH_FIELDS)
        after = offset + len(page)
        return respond(
            WorkspaceSearchResponse,
            {
                "results": [search_result(i, fields) for i in page],
                "total": total,
                "continuationToken": str(after) if after < total else None,
            },
        )

    @extend_schema(
        operation_id="image_metadata",
        summary="Change an image's metadata and tags",
        request=ImageMetadataBody,
        responses=ImageMetadataResponse,
    )
    def metadata(self, request, ws, image_id):
        image = self.reachable_images().filter(pk=image_id).first()
        if image is None:
            raise exceptions.NotFound(f"No image {image_id} in this workspace.")
        data = parse(ImageMetadataBody, self.body())
        image = services.image_update(
            image=image,
            add_tags=data.get("addTags", ()),
            remove_tags=data.get("removeTags", ()),
            metadata=data.get("metadata"),
            remove_metadata=data.get("removeMetadata", ()),
        )
        return respond(ImageMetadataResponse, {"success": True, "image": image})

    @extend_schema(
        operation_id="workspace_images_delete",
        summary="Delete images by id; ids this key cannot reach are skipped",
        request=DeleteImagesBody,
        responses={200: WorkspaceImagesDeletedResponse},
    )
    def bulk_destroy(self, request, ws):
        ids = parse(DeleteImagesBody, self.body())["images"]
        deleted = len(
            services.images_delete(
                images=list(self.reachable_images().filter(pk__in=ids)), actor=Actor.from_request(request)
            )
        )
        skipped = len(set(ids)) - deleted
        return respond(
            WorkspaceImagesDeletedResponse,
            {"deleted": deleted, "skipped": skipped, "deletedSources": deleted, "skippedSources": skipped},
        )
